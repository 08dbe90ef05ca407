// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware/firmwaretest"
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
	// Bad keys: privateKeyCases (TestParsePrivateKey, FuzzParsePrivateKey).
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
	for kind, bad := range firmwaretest.HostilePaths(t, dir, "") {
		for _, tc := range []struct{ name, cert, key string }{
			{kind + " certificate", bad, keyPath},
			{kind + " key", certPath, bad},
		} {
			err := firmwaretest.NoHang(t, tc.name, func() error { _, err := LoadX509KeyPair(tc.cert, tc.key); return err })
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s: %v, want ErrNotRegular", tc.name, err)
			}
		}
	}
}
