// SPDX-License-Identifier: Apache-2.0

package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

type tokCase struct {
	name string
	tok  func(hub, other ed25519.PrivateKey) string
	want error // nil: accepted
}

func sign(priv ed25519.PrivateKey, c jwt.Claims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(priv)
	if err != nil {
		panic(err)
	}
	return s
}

func claims(mod func(*Claims)) Claims {
	c := Claims{Role: "staff", Purpose: "check", RegisteredClaims: jwt.RegisteredClaims{
		Subject: "alice", Audience: jwt.ClaimStrings{"node-1"}, ID: "jti-1",
		IssuedAt: jwt.NewNumericDate(t0), NotBefore: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(t0.Add(10 * time.Minute)),
	}}
	if mod != nil {
		mod(&c)
	}
	return c
}

// tokCases feeds TestVerify and the seeds of FuzzVerify.
var tokCases = []tokCase{
	{"valid", func(h, _ ed25519.PrivateKey) string { return sign(h, claims(nil)) }, nil},
	{"minted", func(h, _ ed25519.PrivateKey) string {
		s, _ := Mint(h, "node-1", "bob", "security", "incident 42", t0, 5*time.Minute)
		return s
	}, nil},
	{"missing", func(_, _ ed25519.PrivateKey) string { return "" }, ErrInvalid},
	{"garbage", func(_, _ ed25519.PrivateKey) string { return "not.a.token" }, ErrInvalid},
	{"forged", func(_, o ed25519.PrivateKey) string { return sign(o, claims(nil)) }, ErrInvalid},
	{"alg none", func(_, _ ed25519.PrivateKey) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}, ErrInvalid},
	{"expired", func(h, _ ed25519.PrivateKey) string {
		return sign(h, claims(func(c *Claims) {
			c.IssuedAt, c.NotBefore = jwt.NewNumericDate(t0.Add(-time.Hour)), jwt.NewNumericDate(t0.Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Minute))
		}))
	}, ErrInvalid},
	{"not yet valid", func(h, _ ed25519.PrivateKey) string {
		return sign(h, claims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Minute)) }))
	}, ErrInvalid},
	{"lifetime over an hour", func(h, _ ed25519.PrivateKey) string {
		return sign(h, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(2 * time.Hour)) }))
	}, ErrInvalid},
	{"no expiry", func(h, _ ed25519.PrivateKey) string {
		return sign(h, claims(func(c *Claims) { c.ExpiresAt = nil }))
	}, ErrInvalid},
	{"no purpose", func(h, _ ed25519.PrivateKey) string {
		return sign(h, claims(func(c *Claims) { c.Purpose = "" }))
	}, ErrInvalid},
	{"no jti", func(h, _ ed25519.PrivateKey) string { return sign(h, claims(func(c *Claims) { c.ID = "" })) }, ErrInvalid},
	{"wrong audience", func(h, _ ed25519.PrivateKey) string {
		return sign(h, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"node-2"} }))
	}, ErrForbidden},
	{"role not allowed", func(h, _ ed25519.PrivateKey) string {
		return sign(h, claims(func(c *Claims) { c.Role = "visitor" }))
	}, ErrForbidden},
}

func newTestVerifier(t testing.TB) (*Verifier, ed25519.PrivateKey, ed25519.PrivateKey) {
	pub, hub, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	v, err := NewVerifier(pub, "node-1", []string{"staff", "security"}, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	return v, hub, other
}

func TestVerify(t *testing.T) {
	for _, tc := range tokCases {
		t.Run(tc.name, func(t *testing.T) {
			v, hub, other := newTestVerifier(t)
			c, err := v.Verify(tc.tok(hub, other))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want accepted", err)
				}
				// One session per token: after Consume, the same token is a replay.
				if err := v.Consume(c, t0); err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(tc.tok(hub, other)); tc.name == "valid" && !errors.Is(err, ErrInvalid) {
					t.Fatalf("replayed token: %v, want ErrInvalid", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzVerify: no input panics, and a token changed in any byte never
// verifies unless it decodes to the very same claims.
func FuzzVerify(f *testing.F) {
	v, hub, other := newTestVerifier(f)
	for _, tc := range tokCases {
		f.Add(tc.tok(hub, other))
	}
	signed := map[string]bool{} // the tokens the hub really signed
	for _, tc := range tokCases {
		if tc.want == nil {
			signed[tc.tok(hub, other)] = true
		}
	}
	subjects := map[string]bool{"alice": true, "bob": true}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(raw)
		if err != nil || signed[raw] {
			return
		}
		// Accepted and different from what the hub signed: only possible
		// if it is a re-encoding of a signed payload (base64 slack).
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token that is not three parts: %q", raw)
		}
		if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
			t.Fatalf("accepted a token with an undecodable signature: %q", raw)
		}
		if !subjects[c.Subject] {
			t.Fatalf("accepted a token with claims the hub never signed: %+v", c)
		}
	})
}
