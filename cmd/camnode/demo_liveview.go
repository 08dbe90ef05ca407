// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/firmware"
)

// demoHub is the demo's stand-in for the hub: a token-signing key whose
// public half goes into the identity's hub_key.
type demoHub struct {
	priv    ed25519.PrivateKey
	pub     string // base64, as in the identity
	keyFile string // PEM PKCS#8, for camctl token
}

func newDemoHub(dir string) (demoHub, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return demoHub{}, err
	}
	pemKey, err := firmware.MarshalPrivateKey(priv)
	if err != nil {
		return demoHub{}, err
	}
	h := demoHub{priv: priv, pub: base64.StdEncoding.EncodeToString(pub), keyFile: filepath.Join(dir, "hub.key")}
	return h, os.WriteFile(h.keyFile, pemKey, 0o600)
}

// liveViewConfig writes a throwaway self-signed certificate for 127.0.0.1
// and returns a loopback-only [liveview] section: HTTPS on addr, media on
// the next port.
func (h demoHub) liveViewConfig(dir, addr string) (config.LiveView, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return config.LiveView{}, fmt.Errorf("demo: -liveview %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p >= 65535 {
		return config.LiveView{}, fmt.Errorf("demo: -liveview %q: want host:port", addr)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return config.LiveView{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "camnode demo live view"},
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return config.LiveView{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return config.LiveView{}, err
	}
	lv := config.Default().LiveView
	lv.Listen, lv.UDPPort, lv.Interfaces = addr, p+1, []string{"lo"}
	lv.CertFile, lv.KeyFile = filepath.Join(dir, "liveview.crt"), filepath.Join(dir, "liveview.key")
	if err := os.WriteFile(lv.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return lv, err
	}
	return lv, os.WriteFile(lv.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

// printURL mints a demo token for role and prints the viewer URL (token in
// the fragment, which the browser never sends) and how to mint more.
func (h demoHub) printURL(w io.Writer, node, addr, role string) error {
	tok, err := token.Mint(h.priv, node, "demo-"+role, role, "camnode demo", time.Now(), 30*time.Minute)
	if err != nil {
		return err
	}
	label := "live view:"
	if role != "staff" {
		label = "as " + role + ":"
	}
	fmt.Fprintf(w, "  %-16s https://%s/#token=%s\n", label, addr, tok)
	fmt.Fprintf(w, "                   (self-signed certificate; the token opens one session within 30 min; more with:\n")
	fmt.Fprintf(w, "                   %s token -key %s -node %s -viewer NAME -role %s -purpose WHY)\n", toolPath("camctl"), h.keyFile, node, role)
	return nil
}
