// SPDX-License-Identifier: Apache-2.0

package push

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad configuration is refused by New with an error that says what is
// wrong; nothing is started.
func TestConfigErrors(t *testing.T) {
	c := newCreds(t, "pw")
	dir := t.TempDir()
	open := filepath.Join(dir, "open.password")
	if err := os.WriteFile(open, []byte("pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.password")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	twoLines := filepath.Join(dir, "two.password")
	if err := os.WriteFile(twoLines, []byte("a\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const u = "rtsps://127.0.0.1:8322/node-1"
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{}, "no push URL"},
		{"no CA", Config{URL: u, User: "n", PasswordFile: c.passwordFile}, "ca_file"},
		{"CA not PEM", Config{URL: u, CAFile: notPEM, User: "n", PasswordFile: c.passwordFile}, "no PEM"},
		{"CA missing", Config{URL: u, CAFile: filepath.Join(dir, "nope"), User: "n", PasswordFile: c.passwordFile}, "no such file"},
		{"CA is a device", Config{URL: u, CAFile: "/dev/zero", User: "n", PasswordFile: c.passwordFile}, "regular"},
		{"no credentials", Config{URL: u, CAFile: c.pki.CAFile()}, "credentials"},
		{"cert without key", Config{URL: u, CAFile: c.pki.CAFile(), CertFile: c.nodeCert}, "key file"},
		{"key not matching", Config{URL: u, CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.hubKey}, "client certificate"},
		{"user without password", Config{URL: u, CAFile: c.pki.CAFile(), User: "n"}, "password file"},
		{"password readable by others", Config{URL: u, CAFile: c.pki.CAFile(), User: "n", PasswordFile: open}, "chmod 600"},
		{"empty password", Config{URL: u, CAFile: c.pki.CAFile(), User: "n", PasswordFile: empty}, "empty"},
		{"two-line password", Config{URL: u, CAFile: c.pki.CAFile(), User: "n", PasswordFile: twoLines}, "one line"},
		{"password is a FIFO-ish path", Config{URL: u, CAFile: c.pki.CAFile(), User: "n", PasswordFile: "/dev/null"}, "chmod 600"},
		{"user with colon", Config{URL: u, CAFile: c.pki.CAFile(), User: "a:b", PasswordFile: c.passwordFile}, "user"},
		{"plaintext to a LAN host", Config{URL: "rtsp://10.0.0.5/node-1", Insecure: true}, "loopback"},
		{"MTU", Config{URL: u, MTU: 50}, "MTU"},
		{"backoff", Config{URL: u, MinBackoff: 2e9, MaxBackoff: 1e9}, "backoff"},
		{"queue", Config{URL: u, QueueBytes: 1}, "QueueBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if err == nil {
				p.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q; want it to name %q", err, tc.want)
			}
		})
	}
}
