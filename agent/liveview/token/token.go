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
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/camnode/camnode/firmware"
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

// wireClaims is what a token's payload may contain, decoded strictly by
// firmware.DecodeJSON (exact-case names, no member twice under any case
// folding, nothing unknown; untagged-omitempty members are required).
// golang-jwt decodes claims with encoding/json, which matches names
// case-insensitively with the last one winning: {"role":"staff",
// "Role":"installer"} would be read as "installer" while a case-sensitive
// reader (the hub, an auditor) sees "staff".
type wireClaims struct {
	Role      string           `json:"role"`
	Purpose   string           `json:"purpose"`
	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// UnmarshalJSON decodes a token payload strictly (see wireClaims). jwt
// calls it when it parses a token into *Claims.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var w wireClaims
	if err := firmware.DecodeJSON(b, &w); err != nil {
		return err
	}
	*c = Claims{Role: w.Role, Purpose: w.Purpose, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: w.Issuer, Subject: w.Subject, Audience: w.Audience, ExpiresAt: w.ExpiresAt,
		NotBefore: w.NotBefore, IssuedAt: w.IssuedAt, ID: w.ID,
	}}
	return nil
}

// wireHeader is the JOSE header a token may carry (strictly decoded, as
// the claims: jwt reads it into a map where a repeated "alg" silently
// wins).
type wireHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
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

// Errors returned by Verify and Consume. ErrForbidden wraps failures of a
// genuine token that does not allow this viewing (other node, role); every
// other refusal of the token wraps ErrInvalid. The more specific errors
// below wrap one of the two; their messages are what a viewer is shown.
var (
	ErrInvalid   = errors.New("invalid token")
	ErrForbidden = errors.New("token does not allow viewing this node")

	ErrExpired   = &reasonError{"token expired", ErrInvalid}
	ErrNotYet    = &reasonError{"token not valid yet (check the clocks of hub and node)", ErrInvalid}
	ErrUsed      = &reasonError{"token already used: a token opens one session", ErrInvalid}
	ErrOtherNode = &reasonError{"token is for another node", ErrForbidden}
	ErrRole      = &reasonError{"token's role may not view this node", ErrForbidden}

	// ErrStore is returned when used tokens cannot be remembered or
	// checked (the used-token store is unreadable or unwritable, or full):
	// no token is accepted then, since a replay could not be refused.
	ErrStore = errors.New("used viewer tokens cannot be checked")
)

// reasonError is a refusal reason that wraps its class (ErrInvalid or
// ErrForbidden).
type reasonError struct {
	msg   string
	class error
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.class }

// MaxUsed bounds the used token ids remembered (and stored) at once: ids
// are forgotten when their token expires; when MaxUsed unexpired ids are
// remembered, new tokens are refused (ErrStore) rather than forgetting one
// that could then replay.
const MaxUsed = 1000

// Store persists used token ids across restarts. Keys are opaque (a hash
// of the jti, see usedKey); values are the token's expiry.
type Store interface {
	Load() (map[string]time.Time, error)
	Save(map[string]time.Time) error
}

// Verifier checks tokens for one node. It remembers every jti it accepted
// until that token expires (in its Store too, if it has one), so a token
// opens at most one session. Safe for concurrent use.
type Verifier struct {
	hub   ed25519.PublicKey
	node  string
	roles []string
	now   func() time.Time

	mu       sync.Mutex
	seen     map[string]time.Time // usedKey(jti) -> exp
	store    Store
	storeErr error // the store could not be loaded: refuse every token
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

// SetStore loads the used token ids from st and persists them there from
// now on. If st cannot be loaded, every token is refused (ErrStore) until a
// later load succeeds (Verify retries): the error is returned for the
// caller to report.
func (v *Verifier) SetStore(st Store) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.store = st
	return v.loadLocked()
}

func (v *Verifier) loadLocked() error {
	used, err := v.store.Load()
	if err != nil {
		v.storeErr = fmt.Errorf("%w: %w", ErrStore, err)
		return v.storeErr
	}
	v.storeErr = nil
	for k, exp := range used {
		if old, ok := v.seen[k]; !ok || exp.After(old) {
			v.seen[k] = exp
		}
	}
	return nil
}

// usedKey is how a jti is remembered: a hash, so the store has a fixed
// entry size whatever the jti, and reveals no token id.
func usedKey(jti string) string {
	h := sha256.Sum256([]byte(jti))
	return hex.EncodeToString(h[:16])
}

// Verify checks raw and returns its claims if it is acceptable. It does not
// consume the token: Consume does, once a session has really started, so a
// request refused for another reason (bad SDP) changes nothing. A consumed
// token fails Verify with ErrUsed.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: missing", ErrInvalid)
	}
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxSize)
	}
	if err := checkHeader(raw); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrInvalid, err)
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
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, fmt.Errorf("%w: %w", ErrNotYet, err)
	default:
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !slices.Contains(c.Audience, v.node) {
		return nil, fmt.Errorf("%w: audience %q, this node is %q", ErrOtherNode, []string(c.Audience), v.node)
	}
	if !slices.Contains(v.roles, c.Role) {
		return nil, fmt.Errorf("%w: role %q is not one of %s", ErrRole, c.Role, strings.Join(v.roles, ", "))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.storeErr != nil && v.loadLocked() != nil {
		return nil, v.storeErr
	}
	if _, dup := v.seen[usedKey(c.ID)]; dup {
		return nil, ErrUsed
	}
	return &c, nil
}

// checkHeader decodes raw's JOSE header strictly (jwt reads it again).
func checkHeader(raw string) error {
	seg, _, ok := strings.Cut(raw, ".")
	if !ok {
		return errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return err
	}
	var h wireHeader
	return firmware.DecodeJSON(b, &h)
}

// Consume marks c's jti used, so the token cannot open another session,
// and persists that before it returns. It fails with ErrUsed if the jti was
// consumed before (a replay that raced the first use) and with ErrStore if
// the use cannot be remembered (then the token is refused, and stays
// spent in memory).
func (v *Verifier) Consume(c *Claims, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.storeErr != nil {
		return v.storeErr
	}
	key := usedKey(c.ID)
	if _, dup := v.seen[key]; dup {
		return ErrUsed
	}
	for id, exp := range v.seen { // forget tokens that can no longer verify
		if now.After(exp.Add(Leeway)) {
			delete(v.seen, id)
		}
	}
	if len(v.seen) >= MaxUsed {
		return fmt.Errorf("%w: %d unexpired tokens used already; try again when one expires", ErrStore, len(v.seen))
	}
	exp := now.Add(MaxLifetime)
	if c.ExpiresAt != nil {
		exp = c.ExpiresAt.Time
	}
	v.seen[key] = exp
	if v.store != nil {
		if err := v.store.Save(maps.Clone(v.seen)); err != nil {
			return fmt.Errorf("%w: %w", ErrStore, err)
		}
	}
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
