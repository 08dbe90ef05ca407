// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPrivateKeyRoundTrip(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	data, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePrivateKey(data)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("ParsePrivateKey(MarshalPrivateKey(k)) = %v, %v", got, err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, bad := range map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("not a key"),
		"wrong type":    pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1}}),
		"bad der":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"ecdsa":         pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"trailing data": append(append([]byte(nil), data...), []byte("extra")...),
	} {
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "panic") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestLoadX509KeyPair: the node's TLS files go through ReadFile, so a FIFO
// or a device at either path is a prompt error.
func TestLoadX509KeyPair(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node-1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "node.pem"), filepath.Join(dir, "node.key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	keyPEM, _ := MarshalPrivateKey(priv)
	os.WriteFile(keyPath, keyPEM, 0o600)
	if _, err := LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	os.Symlink("/dev/zero", zero)
	for _, tc := range []struct{ name, cert, key string }{
		{"FIFO certificate", fifo, keyPath},
		{"FIFO key", certPath, fifo},
		{"/dev/zero key", certPath, zero},
	} {
		done := make(chan error, 1)
		go func() { _, err := LoadX509KeyPair(tc.cert, tc.key); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s: %v, want ErrNotRegular", tc.name, err)
			}
		case <-time.After(30 * time.Second): // a deadline to fail, not a timing assertion
			t.Fatalf("%s: hangs", tc.name)
		}
	}
}
