// SPDX-License-Identifier: Apache-2.0

package push

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// targetCases feed TestParseTarget and FuzzParseTarget's seeds.
var targetCases = []struct {
	url      string
	insecure bool
	want     string // the parsed target, or "" for an error
	err      string // in the error
}{
	{"rtsps://hub.example:8322/node-1", false, "rtsps://hub.example:8322/node-1", ""},
	{"rtsps://hub.example/node-1", false, "rtsps://hub.example:322/node-1", ""},
	{"rtsps://10.0.0.5/cams/ward-3?token=x", false, "rtsps://10.0.0.5:322/cams/ward-3?token=x", ""},
	{"rtsps://[fd00::5]:8322/node-1", false, "rtsps://[fd00::5]:8322/node-1", ""},
	{"rtsps://[fd00::5]/node-1", false, "rtsps://[fd00::5]:322/node-1", ""},
	{"rtsp://127.0.0.1:8554/node-1", true, "rtsp://127.0.0.1:8554/node-1", ""},
	{"rtsp://[::1]/node-1", true, "rtsp://[::1]:554/node-1", ""},
	{"rtsp://127.0.0.1:8554/node-1", false, "", "plaintext"},
	{"rtsp://hub.example/node-1", true, "", "loopback"},
	{"rtsp://localhost/node-1", true, "", "loopback"},
	{"http://hub/node-1", false, "", "scheme"},
	{"RTSPS://hub/node-1", false, "rtsps://hub:322/node-1", ""},
	{"rtsps://user:pw@hub/node-1", false, "", "credentials"},
	{"rtsps://user@hub/node-1", false, "", "credentials"},
	{"rtsps://hub/node-1#x", false, "", "fragment"},
	{"rtsps://hub", false, "", "no path"},
	{"rtsps://hub/", false, "", "no path"},
	{"rtsps:///node-1", false, "", "no host"},
	{"rtsps://hub:0/node-1", false, "", "port"},
	{"rtsps://hub:65536/node-1", false, "", "port"},
	{"rtsps://hub:99999999/node-1", false, "", "port"},
	{"rtsps://hub:x/node-1", false, "", "port"},
	{"rtsps://hub:/node-1", false, "", "host"},
	{"rtsps://hub_x/node-1", false, "", "bad host"},
	{"rtsps://[fe80::1%25eth0]/node-1", false, "", "bad host"},
	{"rtsps://[fd00::5/node-1", false, "", ""},
	{"rtsps://hub/no de", false, "", "spaces"},
	{"rtsps://hub/\x00", false, "", "control"},
	{"rtsps://hub/é", false, "", "non-ASCII"},
	{"rtsps:hub/node-1", false, "", "rtsps://hub/path"},
	{"", false, "", "no push URL"},
	{"rtsps://hub/" + strings.Repeat("a", 1100), false, "", "longer"},
}

func TestParseTarget(t *testing.T) {
	for _, tc := range targetCases {
		got, err := parseTarget(tc.url, tc.insecure)
		switch {
		case tc.want != "" && err != nil:
			t.Errorf("%q: %v", tc.url, err)
		case tc.want != "" && got.String() != tc.want:
			t.Errorf("%q: got %q; want %q", tc.url, got.String(), tc.want)
		case tc.want == "" && err == nil:
			t.Errorf("%q: accepted as %q", tc.url, got.String())
		case tc.want == "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("%q: error %q; want it to name %q", tc.url, err, tc.err)
		}
	}
}

// FuzzParseTarget: any input is refused with an error or gives a target
// that parses again to itself, names a host and a port, and never holds
// credentials or a plaintext non-loopback address.
func FuzzParseTarget(f *testing.F) {
	for _, tc := range targetCases {
		f.Add(tc.url, tc.insecure)
	}
	f.Fuzz(func(t *testing.T, raw string, insecure bool) {
		got, err := parseTarget(raw, insecure)
		if err != nil {
			return
		}
		if got.Host == "" || got.Name == "" || !strings.HasPrefix(got.Path, "/") || strings.Contains(got.Host, "@") {
			t.Fatalf("%q: bad target %+v", raw, got)
		}
		if !got.Secure && !insecure {
			t.Fatalf("%q: plaintext accepted", raw)
		}
		again, err := parseTarget(got.String(), insecure)
		if err != nil || again != got {
			t.Fatalf("%q -> %q -> %+v, %v", raw, got.String(), again, err)
		}
	})
}

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
