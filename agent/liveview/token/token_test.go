// SPDX-License-Identifier: Apache-2.0

package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
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

// signRaw signs a hand-written header and payload (JSON text, so that it
// can hold what no encoder writes: repeated and case-variant members).
func signRaw(priv ed25519.PrivateKey, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return signing + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(signing)))
}

// payload is a valid token payload with extra members spliced in front.
func payload(extra string) string {
	return fmt.Sprintf(`{%s"role":"staff","purpose":"check","sub":"alice","aud":"node-1","jti":"jti-1","iat":%d,"nbf":%d,"exp":%d}`,
		extra, t0.Unix(), t0.Unix(), t0.Add(10*time.Minute).Unix())
}

const edHeader = `{"alg":"EdDSA","typ":"JWT"}`

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
	{"hand-signed valid", func(h, _ ed25519.PrivateKey) string { return signRaw(h, edHeader, payload("")) }, nil},
	// Case variants and repeats: encoding/json (what jwt uses) matches
	// names case-insensitively, last wins; a case-sensitive reader sees the
	// first. One token must not mean two things.
	{"Role after role", func(h, _ ed25519.PrivateKey) string {
		return signRaw(h, edHeader, strings.Replace(payload(""), `"purpose"`, `"Role":"installer","purpose"`, 1))
	}, ErrInvalid},
	{"ROLE before role", func(h, _ ed25519.PrivateKey) string { return signRaw(h, edHeader, payload(`"ROLE":"visitor",`)) }, ErrInvalid},
	{"role twice", func(h, _ ed25519.PrivateKey) string {
		return signRaw(h, edHeader, strings.Replace(payload(""), `"purpose"`, `"role":"security","purpose"`, 1))
	}, ErrInvalid},
	{"Aud after aud", func(h, _ ed25519.PrivateKey) string {
		return signRaw(h, edHeader, strings.Replace(payload(""), `"jti"`, `"Aud":"node-2","jti"`, 1))
	}, ErrInvalid},
	{"AUD before aud", func(h, _ ed25519.PrivateKey) string { return signRaw(h, edHeader, payload(`"AUD":"node-2",`)) }, ErrInvalid},
	{"Exp variant", func(h, _ ed25519.PrivateKey) string {
		return signRaw(h, edHeader, payload(fmt.Sprintf(`"Exp":%d,`, t0.Add(-time.Hour).Unix())))
	}, ErrInvalid},
	{"Jti variant", func(h, _ ed25519.PrivateKey) string { return signRaw(h, edHeader, payload(`"JTI":"other",`)) }, ErrInvalid},
	{"unknown claim", func(h, _ ed25519.PrivateKey) string { return signRaw(h, edHeader, payload(`"admin":true,`)) }, ErrInvalid},
	{"role null", func(h, _ ed25519.PrivateKey) string {
		return signRaw(h, edHeader, strings.Replace(payload(""), `"role":"staff"`, `"role":null`, 1))
	}, ErrInvalid},
	{"trailing data", func(h, _ ed25519.PrivateKey) string { return signRaw(h, edHeader, payload("")+`{}`) }, ErrInvalid},
	{"alg twice in header", func(h, _ ed25519.PrivateKey) string {
		return signRaw(h, `{"alg":"none","alg":"EdDSA","typ":"JWT"}`, payload(""))
	}, ErrInvalid},
	{"Alg variant in header", func(h, _ ed25519.PrivateKey) string {
		return signRaw(h, `{"alg":"EdDSA","Alg":"none","typ":"JWT"}`, payload(""))
	}, ErrInvalid},
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

// memStore is a token.Store in memory, with injectable failures.
type memStore struct {
	used             map[string]time.Time
	loadErr, saveErr error
}

func (m *memStore) Load() (map[string]time.Time, error) {
	if m.loadErr != nil {
		return nil, m.loadErr
	}
	return maps.Clone(m.used), nil
}

func (m *memStore) Save(u map[string]time.Time) error {
	if m.saveErr != nil {
		return m.saveErr
	}
	m.used = u
	return nil
}

// TestVerifierStore: used ids survive a new Verifier on the same store;
// a store that cannot be read or written refuses tokens (ErrStore) until
// it works; the set is bounded without forgetting an unexpired id.
func TestVerifierStore(t *testing.T) {
	pub, hub, _ := ed25519.GenerateKey(rand.Reader)
	now := t0
	clock := func() time.Time { return now }
	newV := func(st Store) (*Verifier, error) {
		v, err := NewVerifier(pub, "node-1", []string{"staff"}, clock)
		if err != nil {
			t.Fatal(err)
		}
		return v, v.SetStore(st)
	}
	mint := func() string {
		s, err := Mint(hub, "node-1", "alice", "staff", "check", now, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	st := &memStore{}
	v, err := newV(st)
	if err != nil {
		t.Fatal(err)
	}
	tok := mint()
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Consume(c, now); err != nil {
		t.Fatal(err)
	}
	v2, err := newV(st) // a restart
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(tok); !errors.Is(err, ErrUsed) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("after restart: %v, want ErrUsed", err)
	}

	// Unreadable: every token refused, until it reads again.
	st.loadErr = errors.New("disk on fire")
	v3, err := newV(st)
	if !errors.Is(err, ErrStore) {
		t.Fatalf("SetStore: %v", err)
	}
	if _, err := v3.Verify(mint()); !errors.Is(err, ErrStore) {
		t.Fatalf("unreadable store: %v, want ErrStore", err)
	}
	st.loadErr = nil
	if _, err := v3.Verify(tok); !errors.Is(err, ErrUsed) {
		t.Fatalf("store readable again: %v, want ErrUsed for the used token", err)
	}

	// Unwritable: the token is refused (and spent).
	st.saveErr = errors.New("read-only")
	c, err = v3.Verify(mint())
	if err != nil {
		t.Fatal(err)
	}
	if err := v3.Consume(c, now); !errors.Is(err, ErrStore) {
		t.Fatalf("unwritable store: %v, want ErrStore", err)
	}
	st.saveErr = nil

	// Bounded: MaxUsed unexpired ids, then refusals; expired ids go.
	for len(v3.seen) < MaxUsed {
		c, err := v3.Verify(mint())
		if err != nil {
			t.Fatal(err)
		}
		if err := v3.Consume(c, now); err != nil {
			t.Fatalf("consume %d: %v", len(v3.seen), err)
		}
	}
	c, _ = v3.Verify(mint())
	if err := v3.Consume(c, now); !errors.Is(err, ErrStore) {
		t.Fatalf("full: %v, want ErrStore", err)
	}
	now = now.Add(11 * time.Minute)
	c, err = v3.Verify(mint())
	if err != nil {
		t.Fatal(err)
	}
	if err := v3.Consume(c, now); err != nil || len(st.used) != 1 {
		t.Fatalf("after expiry: %v, %d stored", err, len(st.used))
	}
}
