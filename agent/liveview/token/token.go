// SPDX-License-Identifier: Apache-2.0

// Package token mints and verifies live-view tokens: JWTs signed by the
// hub's Ed25519 key (alg EdDSA), addressed to one node (aud), naming the
// viewer (sub), their role and the purpose of viewing, short-lived and
// single-use (jti).
//
// It is separate from package liveview so that camctl can mint tokens
// without linking WebRTC.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Limits.
const (
	// MaxLifetime is the longest lifetime (exp - nbf, or exp - iat) a
	// token may have.
	MaxLifetime = time.Hour
	// MaxSize bounds the encoded token; longer ones are refused unparsed.
	MaxSize = 4096
	// Leeway absorbs clock skew between hub and node.
	Leeway = 5 * time.Second
	// maxField bounds sub, role, purpose and jti.
	maxField = 256
)

// Claims are the claims of a live-view token.
type Claims struct {
	Role    string `json:"role"`
	Purpose string `json:"purpose"`
	jwt.RegisteredClaims
}

// Mint signs a token for viewer sub on node with role and purpose, valid
// from now for ttl, with a fresh random jti.
func Mint(priv ed25519.PrivateKey, node, sub, role, purpose string, now time.Time, ttl time.Duration) (string, error) {
	var errs []string
	if len(priv) != ed25519.PrivateKeySize {
		errs = append(errs, "key: not an Ed25519 private key")
	}
	for _, f := range []struct{ name, v string }{{"node", node}, {"viewer", sub}, {"role", role}, {"purpose", purpose}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, f.name+": required")
		} else if len(f.v) > maxField {
			errs = append(errs, fmt.Sprintf("%s: longer than %d bytes", f.name, maxField))
		}
	}
	if ttl <= 0 || ttl > MaxLifetime {
		errs = append(errs, fmt.Sprintf("ttl: %v must be in (0, %v]", ttl, MaxLifetime))
	}
	if len(errs) > 0 {
		return "", errors.New("token: " + strings.Join(errs, "; "))
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	now = now.Truncate(time.Second)
	c := Claims{Role: role, Purpose: purpose, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   sub,
		Audience:  jwt.ClaimStrings{node},
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        hex.EncodeToString(id[:]),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(priv)
}

// Errors returned by Verify. ErrForbidden wraps failures of a genuine token
// that does not allow this viewing (wrong node, role); every other failure
// wraps ErrInvalid.
var (
	ErrInvalid   = errors.New("invalid token")
	ErrForbidden = errors.New("token does not allow viewing this node")
)

// Verifier checks tokens for one node. It remembers every jti it accepted
// until that token expires, so a token opens at most one session. Safe for
// concurrent use.
type Verifier struct {
	hub   ed25519.PublicKey
	node  string
	roles []string
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // jti -> exp
}

// NewVerifier returns a verifier for tokens signed by hub, addressed to
// node, with a role in roles. now nil means time.Now.
func NewVerifier(hub ed25519.PublicKey, node string, roles []string, now func() time.Time) (*Verifier, error) {
	if len(hub) != ed25519.PublicKeySize {
		return nil, errors.New("token: hub key is not an Ed25519 public key")
	}
	if node == "" {
		return nil, errors.New("token: node id is required")
	}
	if len(roles) == 0 {
		return nil, errors.New("token: at least one allowed role is required")
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{hub: hub, node: node, roles: slices.Clone(roles), now: now, seen: map[string]time.Time{}}, nil
}

// Verify checks raw and returns its claims if it is acceptable. It does not
// consume the token: Consume does, once a session has really started, so a
// request refused for another reason (bad SDP) changes nothing. A consumed
// token fails Verify.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: missing", ErrInvalid)
	}
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxSize)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return v.hub, nil },
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !slices.Contains(c.Audience, v.node) {
		return nil, fmt.Errorf("%w: audience %q is not this node", ErrForbidden, []string(c.Audience))
	}
	if !slices.Contains(v.roles, c.Role) {
		return nil, fmt.Errorf("%w: role %q is not one of %s", ErrForbidden, c.Role, strings.Join(v.roles, ", "))
	}
	v.mu.Lock()
	_, dup := v.seen[c.ID]
	v.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("%w: jti already used (replay)", ErrInvalid)
	}
	return &c, nil
}

// Consume marks c's jti used, so the token cannot open another session. It
// fails if the jti was consumed before (a replay that raced the first use).
func (v *Verifier) Consume(c *Claims, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, dup := v.seen[c.ID]; dup {
		return fmt.Errorf("%w: jti already used (replay)", ErrInvalid)
	}
	for id, exp := range v.seen { // forget tokens that can no longer verify
		if now.After(exp.Add(Leeway)) {
			delete(v.seen, id)
		}
	}
	exp := now.Add(MaxLifetime)
	if c.ExpiresAt != nil {
		exp = c.ExpiresAt.Time
	}
	v.seen[c.ID] = exp
	return nil
}

// check enforces the claims jwt does not: presence, sizes and lifetime.
func (c *Claims) check() error {
	var errs []string
	for _, f := range []struct{ name, v string }{{"sub", c.Subject}, {"role", c.Role}, {"purpose", c.Purpose}, {"jti", c.ID}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, f.name+" missing")
		} else if len(f.v) > maxField {
			errs = append(errs, fmt.Sprintf("%s longer than %d bytes", f.name, maxField))
		}
	}
	if c.IssuedAt == nil {
		errs = append(errs, "iat missing")
	}
	if len(c.Audience) == 0 {
		errs = append(errs, "aud missing")
	}
	if c.ExpiresAt != nil {
		start := c.IssuedAt
		if c.NotBefore != nil && (start == nil || c.NotBefore.After(start.Time)) {
			start = c.NotBefore
		}
		if start != nil && c.ExpiresAt.Sub(start.Time) > MaxLifetime {
			errs = append(errs, fmt.Sprintf("lifetime %v exceeds %v", c.ExpiresAt.Sub(start.Time), MaxLifetime))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, ", "))
	}
	return nil
}
