// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
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
// (another PEM type, PEM headers, another algorithm, data before or after
// the block, more than MaxKeyFileSize bytes) is an error.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("key file of %d bytes, more than %d", len(data), MaxKeyFileSize)
	}
	blk, rest := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block (make one with camctl keygen)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data after the PEM block")
	}
	if len(blk.Headers) > 0 {
		return nil, errors.New("PEM headers (an encrypted key?): want a plain PKCS#8 key")
	}
	// pem.Decode skips anything before the block (even a broken BEGIN
	// line): the file must be the block exactly as camctl keygen and
	// openssl write it, but for surrounding blank space and CRLF.
	file := bytes.TrimSpace(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
	if !bytes.Equal(file, bytes.TrimSpace(pem.EncodeToMemory(blk))) {
		return nil, errors.New("not exactly one PEM block as camctl keygen writes it (data before it, or other line breaks)")
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
// block, such as a comment line, is allowed; data after it, or more than
// MaxKeyFileSize bytes, is not).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("key file of %d bytes, more than %d", len(data), MaxKeyFileSize)
	}
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

// LoadX509KeyPair is tls.LoadX509KeyPair through ReadFile: the certificate
// and its key must be regular files within MaxCertFileSize and
// MaxKeyFileSize, so that a FIFO or a device at either path is an error
// instead of a hang or an endless read.
func LoadX509KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := ReadFile(certFile, MaxCertFileSize)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ReadFile(keyFile, MaxKeyFileSize)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(cert, key)
}
