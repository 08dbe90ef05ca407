// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claims returns valid claims for testNode at now, changed by mod.
func claims(now time.Time, mod func(jwt.MapClaims, time.Time)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "role": "staff", "purpose": "fall check", "aud": testNode,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": newID()}
	if mod != nil {
		mod(c, now)
	}
	return c
}

// tokenCase is a token that must be refused with code and open no
// session. The table feeds the handler unit tests, the token fuzz seeds
// and the browser end-to-end test.
type tokenCase struct {
	name string
	make func(k keys, now time.Time) string
	code int
}

func tokenCases() []tokenCase {
	ed := func(mod func(jwt.MapClaims, time.Time)) func(keys, time.Time) string {
		return func(k keys, now time.Time) string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims(now, mod)).SignedString(k.priv)
			return s
		}
	}
	return []tokenCase{
		{"missing", func(keys, time.Time) string { return "" }, http.StatusUnauthorized},
		{"garbage", func(keys, time.Time) string { return "not.a.jwt" }, http.StatusUnauthorized},
		{"forged", func(k keys, now time.Time) string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims(now, nil)).SignedString(k.forgery)
			return s
		}, http.StatusUnauthorized},
		{"alg none", func(k keys, now time.Time) string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(now, nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}, http.StatusUnauthorized},
		{"alg HS256 with the public key", func(k keys, now time.Time) string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(now, nil)).SignedString([]byte(k.pub))
			return s
		}, http.StatusUnauthorized},
		{"expired", ed(func(c jwt.MapClaims, now time.Time) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-20*time.Minute).Unix(), now.Add(-20*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
		}), http.StatusUnauthorized},
		{"not yet valid", ed(func(c jwt.MapClaims, now time.Time) {
			c["nbf"], c["exp"] = now.Add(10*time.Minute).Unix(), now.Add(20*time.Minute).Unix()
		}), http.StatusUnauthorized},
		{"issued in the future", ed(func(c jwt.MapClaims, now time.Time) { c["iat"] = now.Add(10 * time.Minute).Unix() }), http.StatusUnauthorized},
		{"lifetime over an hour", ed(func(c jwt.MapClaims, now time.Time) { c["exp"] = now.Add(2 * time.Hour).Unix() }), http.StatusUnauthorized},
		{"no exp", ed(func(c jwt.MapClaims, now time.Time) { delete(c, "exp") }), http.StatusUnauthorized},
		{"no jti", ed(func(c jwt.MapClaims, now time.Time) { delete(c, "jti") }), http.StatusUnauthorized},
		{"no sub", ed(func(c jwt.MapClaims, now time.Time) { delete(c, "sub") }), http.StatusUnauthorized},
		{"no purpose", ed(func(c jwt.MapClaims, now time.Time) { c["purpose"] = " " }), http.StatusUnauthorized},
		{"no iat", ed(func(c jwt.MapClaims, now time.Time) { delete(c, "iat") }), http.StatusUnauthorized},
		{"wrong audience", ed(func(c jwt.MapClaims, now time.Time) { c["aud"] = "node-2" }), http.StatusForbidden},
		{"no audience", ed(func(c jwt.MapClaims, now time.Time) { delete(c, "aud") }), http.StatusUnauthorized},
		{"role not allowed", ed(func(c jwt.MapClaims, now time.Time) { c["role"] = "visitor" }), http.StatusForbidden},
		{"unknown claim type", ed(func(c jwt.MapClaims, now time.Time) { c["exp"] = "tomorrow" }), http.StatusUnauthorized},
	}
}

// answerCase is an offer the node must answer (201) and what the answer
// must and must not contain. TestAnswers runs them; FuzzOffer and
// FuzzHTTP use the offers as seeds.
type answerCase struct {
	name  string
	offer func(t testing.TB) string
	want  []string // substrings the answer must have
	not   []string // substrings it must not have
}

func answerCases() []answerCase {
	// Every answer takes the DTLS server role (a=setup:passive): the
	// viewer's hello comes only after it applied the answer (issue 9,
	// item 20: libdatachannel under load failed DTLS when our hello came
	// first). Never audio, host candidates only.
	common := []string{"a=setup:passive", "a=sendonly"}
	never := []string{"a=setup:active", "a=setup:actpass", "opus", "typ srflx", "typ relay", ".local"}
	return []answerCase{
		// An offer with a=setup:passive is refused (testdata/sdp/bad-setup-passive.sdp).
		{"pion recvonly video", func(t testing.TB) string { return newReceiver(t, false).offer(t) }, common, never},
		{"pion with interceptors", func(t testing.TB) string { return newReceiver(t, true).offer(t) }, common, never},
		{"chromium audio+video", func(t testing.TB) string { return readSDP(t, "chromium-audio-video.sdp") },
			append([]string{"m=audio 0 "}, common...), never},
	}
}
