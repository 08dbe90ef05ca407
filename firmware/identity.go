// SPDX-License-Identifier: Apache-2.0

// Package firmware holds what is flashed onto a node and the formats the
// installer writes: the signed identity (which room a node hangs in), the
// pinned installer keys, and later the systemd unit, boot config and module
// blacklists.
//
// # Identity
//
// The identity file (identity.json on the boot partition) is a signed
// envelope:
//
//	{
//	  "format": "camnode-identity/1",
//	  "key_id": "<hex sha256 of the installer public key, first 16 bytes>",
//	  "payload": "<base64 of the identity JSON>",
//	  "signature": "<base64 Ed25519 signature over the payload bytes>"
//	}
//
// The signature covers the payload bytes exactly as stored, so no JSON
// canonicalisation is involved. The payload decodes strictly (unknown fields
// are an error) into Identity.
//
// Installer keys are pinned at provisioning in a text file, one key a line:
//
//	camnode-installer-ed25519 <base64 public key> [comment]
//
// Blank lines and lines starting with # are ignored.
package firmware

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// IdentityFormat is the envelope's format tag.
const IdentityFormat = "camnode-identity/1"

// KeyPrefix starts each line of an installer key file.
const KeyPrefix = "camnode-installer-ed25519"

// MaxIdentitySize bounds the identity file: anything larger is refused
// before parsing.
const MaxIdentitySize = 64 << 10

// Identity says which node this is and where it hangs. The zone class
// decides, by rules compiled into the agent, whether the camera may ever be
// opened.
type Identity struct {
	NodeID    string `json:"node_id"`    // [a-z0-9-], 1..63
	Site      string `json:"site"`       // free text, 1..128
	Room      string `json:"room"`       // room label as on the door, 1..128
	ZoneClass string `json:"zone_class"` // e.g. "reception", "corridor"; see agent zone rules
	// InitialPrivacy is the mode on first boot: "on" (default) or "off".
	InitialPrivacy string `json:"initial_privacy,omitempty"`
	// HubKey is the hub's Ed25519 public key (base64) that signs viewer
	// tokens. Optional until live view is configured.
	HubKey string `json:"hub_key,omitempty"`
	// Brokers are the MQTT broker URLs of the hub. Optional.
	Brokers []string `json:"brokers,omitempty"`
	// Masks are the privacy masks burned into every frame (see mask.go).
	// Only the signed identity sets them. Optional.
	Masks []Mask `json:"masks,omitempty"`
	// AuditKey is the node's Ed25519 audit public key (base64) that
	// verifies its signed audit checkpoints (docs/audit.md). Optional:
	// without it the node runs with an unsigned trail and a fault.
	AuditKey string `json:"audit_key,omitempty"`
	// Installer names who provisioned the node.
	Installer string    `json:"installer"`
	IssuedAt  time.Time `json:"issued_at"`
}

var nodeIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks every field. Errors name the field.
func (id Identity) Validate() error {
	var errs []error
	if !nodeIDRe.MatchString(id.NodeID) {
		errs = append(errs, fmt.Errorf("node_id: %q must be 1-63 of a-z, 0-9 and '-', starting with a letter or digit", id.NodeID))
	}
	for _, f := range []struct{ name, v string }{{"site", id.Site}, {"room", id.Room}, {"zone_class", id.ZoneClass}, {"installer", id.Installer}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, fmt.Errorf("%s: missing", f.name))
		} else if len(f.v) > 128 {
			errs = append(errs, fmt.Errorf("%s: longer than 128 bytes", f.name))
		}
	}
	switch id.InitialPrivacy {
	case "", "on", "off":
	default:
		errs = append(errs, fmt.Errorf("initial_privacy: %q must be \"on\" or \"off\"", id.InitialPrivacy))
	}
	if id.HubKey != "" {
		if _, err := DecodePublicKey(id.HubKey); err != nil {
			errs = append(errs, fmt.Errorf("hub_key: %w", err))
		}
	}
	if err := validateMasks(id.Masks); err != nil {
		errs = append(errs, err)
	}
	if id.AuditKey != "" {
		if _, err := DecodePublicKey(id.AuditKey); err != nil {
			errs = append(errs, fmt.Errorf("audit_key: %w", err))
		}
	}
	if id.IssuedAt.IsZero() {
		errs = append(errs, errors.New("issued_at: missing"))
	}
	return errors.Join(errs...)
}

// envelope is the file format.
type envelope struct {
	Format    string `json:"format"`
	KeyID     string `json:"key_id"`
	Payload   []byte `json:"payload"`
	Signature []byte `json:"signature,omitempty"` // absent: ErrUnsigned
}

// KeyID returns the identifier of a public key used in envelopes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// SignIdentity validates id and returns the signed identity file.
func SignIdentity(id Identity, priv ed25519.PrivateKey) ([]byte, error) {
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("identity: installer private key has the wrong size")
	}
	payload, err := json.Marshal(id)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	env := envelope{
		Format:    IdentityFormat,
		KeyID:     KeyID(priv.Public().(ed25519.PublicKey)),
		Payload:   payload,
		Signature: ed25519.Sign(priv, payload),
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return append(out, '\n'), nil
}

// Errors from VerifyIdentity, for errors.Is.
var (
	ErrUnsigned   = errors.New("identity is not signed")
	ErrUnknownKey = errors.New("identity signed by a key that is not pinned")
	ErrBadSig     = errors.New("identity signature does not verify")
)

// VerifyIdentity parses a signed identity file and verifies it against the
// pinned installer keys. Any problem is an error; the caller fails closed.
func VerifyIdentity(data []byte, keys []ed25519.PublicKey) (Identity, error) {
	var id Identity
	if len(data) > MaxIdentitySize {
		return id, fmt.Errorf("identity: file larger than %d bytes", MaxIdentitySize)
	}
	if len(keys) == 0 {
		return id, errors.New("identity: no installer keys pinned")
	}
	var env envelope
	if err := DecodeJSON(data, &env); err != nil {
		return id, fmt.Errorf("identity: %w", err)
	}
	if env.Format != IdentityFormat {
		return id, fmt.Errorf("identity: format %q, want %q", env.Format, IdentityFormat)
	}
	if len(env.Signature) == 0 {
		return id, fmt.Errorf("identity: %w", ErrUnsigned)
	}
	var key ed25519.PublicKey
	for _, k := range keys {
		if KeyID(k) == env.KeyID {
			key = k
			break
		}
	}
	if key == nil {
		return id, fmt.Errorf("identity: %w (key_id %q)", ErrUnknownKey, env.KeyID)
	}
	if !ed25519.Verify(key, env.Payload, env.Signature) {
		return id, fmt.Errorf("identity: %w", ErrBadSig)
	}
	if err := DecodeJSON(env.Payload, &id); err != nil {
		return Identity{}, fmt.Errorf("identity payload: %w", err)
	}
	if err := id.Validate(); err != nil {
		return Identity{}, fmt.Errorf("identity: %w", err)
	}
	return id, nil
}

// DecodePublicKey decodes a base64 Ed25519 public key.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("public key is not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key has %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParseKeys parses an installer key file (at most MaxKeyFileSize bytes).
func ParseKeys(data []byte) ([]ed25519.PublicKey, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("installer keys: %d bytes, more than %d", len(data), MaxKeyFileSize)
	}
	var keys []ed25519.PublicKey
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != KeyPrefix {
			return nil, fmt.Errorf("installer keys line %d: want %q <base64 key> [comment]", i+1, KeyPrefix)
		}
		k, err := DecodePublicKey(fields[1])
		if err != nil {
			return nil, fmt.Errorf("installer keys line %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("installer keys: no key found")
	}
	return keys, nil
}

// FormatKey renders one line of an installer key file.
func FormatKey(pub ed25519.PublicKey, comment string) string {
	return strings.TrimSpace(fmt.Sprintf("%s %s %s", KeyPrefix, base64.StdEncoding.EncodeToString(pub), comment)) + "\n"
}
