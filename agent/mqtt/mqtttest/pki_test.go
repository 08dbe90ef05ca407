// SPDX-License-Identifier: Apache-2.0

package mqtttest_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

func TestPKI(t *testing.T) {
	p := mqtttest.NewPKI(t)
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("CAFile holds no certificate")
	}
	for _, tc := range []struct {
		cn     string
		server bool
		usage  x509.ExtKeyUsage
		ip     string
	}{
		{"node-1", false, x509.ExtKeyUsageClientAuth, ""},
		{"hub", false, x509.ExtKeyUsageClientAuth, ""},
		{"server", true, x509.ExtKeyUsageServerAuth, "127.0.0.1"},
	} {
		certFile, keyFile := p.Issue(t, tc.cn, tc.server)
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("%s: %v", tc.cn, err)
		}
		leaf := pair.Leaf
		if leaf.Subject.CommonName != tc.cn {
			t.Errorf("%s: CN %q", tc.cn, leaf.Subject.CommonName)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.usage}, DNSName: tc.ip}); err != nil {
			t.Errorf("%s: %v", tc.cn, err)
		}
	}
	// Serial numbers differ, so a broker never sees two certificates as one.
	pa, _ := tls.LoadX509KeyPair(p.Issue(t, "a", false))
	pb, _ := tls.LoadX509KeyPair(p.Issue(t, "b", false))
	if pa.Leaf.SerialNumber.Cmp(pb.Leaf.SerialNumber) == 0 {
		t.Errorf("two certificates with serial %v", pa.Leaf.SerialNumber)
	}
}
