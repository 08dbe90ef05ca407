// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"net/http"
	"strings"
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

// httpCase is one request to the live-view handler and the status it must
// get. In auth, {tok} stands for a fresh valid token; in body, {offer} for
// a real pion offer. TestHTTPCases runs them; they seed FuzzHTTP.
type httpCase struct {
	name                     string
	method, path, auth, body string
	code                     int
}

func httpCases() []httpCase {
	const whep = "/whep"
	return []httpCase{
		{"page", "GET", "/", "", "", http.StatusOK},
		{"script", "GET", "/viewer.js", "", "", http.StatusOK},
		{"state", "GET", "/state", "", "", http.StatusOK},
		{"state with a token", "GET", "/state", "Bearer {tok}", "", http.StatusOK},
		{"POST state", "POST", "/state", "Bearer {tok}", "{offer}", http.StatusMethodNotAllowed},
		{"DELETE state", "DELETE", "/state", "", "", http.StatusMethodNotAllowed},
		{"GET whep", "GET", whep, "Bearer {tok}", "", http.StatusMethodNotAllowed},
		{"DELETE whep", "DELETE", whep, "Bearer {tok}", "", http.StatusMethodNotAllowed},
		{"PUT whep", "PUT", whep, "Bearer {tok}", "{offer}", http.StatusMethodNotAllowed},
		{"DELETE unknown session", "DELETE", "/whep/0123456789abcdef0123456789abcdef", "", "", http.StatusNotFound},
		{"DELETE unknown session with a token", "DELETE", "/whep/x", "Bearer {tok}", "", http.StatusNotFound},
		{"DELETE no id", "DELETE", "/whep/", "", "", http.StatusNotFound},
		{"DELETE nested", "DELETE", "/whep/a/b", "", "", http.StatusNotFound},
		{"DELETE dot-dot", "DELETE", "/whep/../state", "", "", http.StatusTemporaryRedirect}, // to the clean path, nothing done
		{"unknown path", "GET", "/admin", "", "", http.StatusNotFound},
		{"valid", "POST", whep, "Bearer {tok}", "{offer}", http.StatusCreated},
		{"scheme in lower case", "POST", whep, "bearer {tok}", "{offer}", http.StatusCreated},
		{"two spaces", "POST", whep, "Bearer  {tok}", "{offer}", http.StatusCreated},
		{"no Authorization", "POST", whep, "", "{offer}", http.StatusUnauthorized},
		{"scheme only", "POST", whep, "Bearer", "{offer}", http.StatusUnauthorized},
		{"scheme and space", "POST", whep, "Bearer ", "{offer}", http.StatusUnauthorized},
		{"tab", "POST", whep, "Bearer\t{tok}", "{offer}", http.StatusUnauthorized},
		{"no scheme", "POST", whep, "{tok}", "{offer}", http.StatusUnauthorized},
		{"Basic", "POST", whep, "Basic {tok}", "{offer}", http.StatusUnauthorized},
		{"Token scheme", "POST", whep, "Token {tok}", "{offer}", http.StatusUnauthorized},
		{"trailing word", "POST", whep, "Bearer {tok} x", "{offer}", http.StatusUnauthorized},
		{"trailing comma", "POST", whep, "Bearer {tok},", "{offer}", http.StatusUnauthorized},
		{"two tokens", "POST", whep, "Bearer {tok}, Bearer {tok}", "{offer}", http.StatusUnauthorized},
		{"quoted", "POST", whep, `Bearer "{tok}"`, "{offer}", http.StatusUnauthorized},
		{"NUL", "POST", whep, "Bearer {tok}\x00", "{offer}", http.StatusUnauthorized},
		{"huge", "POST", whep, "Bearer " + strings.Repeat("A", 5000), "{offer}", http.StatusUnauthorized},
		{"valid token, empty body", "POST", whep, "Bearer {tok}", "", http.StatusBadRequest},
	}
}
