// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Private keys (installer keys that sign identities, hub keys that sign
// viewer tokens) are stored as one PEM "PRIVATE KEY" block (PKCS#8) holding
// an Ed25519 key: the format `camctl keygen` writes and openssl reads.

// MarshalPrivateKey encodes priv as PEM PKCS#8.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a key written by MarshalPrivateKey. Anything else
// (another PEM type, another algorithm, data after the block) is an error.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	blk, rest := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block (make one with camctl keygen)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data after the PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an Ed25519 key", k)
	}
	return priv, nil
}

// A hub's public key (the half that verifies viewer tokens; its base64 goes
// into the identity's hub_key) is stored as one PEM "PUBLIC KEY" block
// (PKIX), the format openssl writes with `openssl pkey -pubout`. It is
// deliberately not the installer key-file line (FormatKey): ParseKeys
// refuses it, so a hub key can never be appended to installer-keys.pub by
// mistake and become a key that signs identities.

// MarshalPublicKey encodes pub as PEM PKIX.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey decodes a key written by MarshalPublicKey (text before the
// block, such as a comment line, is allowed; data after it is not).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	blk, rest := pem.Decode(data)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\" block (make one with camctl keygen -kind hub)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data after the PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an Ed25519 key", k)
	}
	return pub, nil
}
