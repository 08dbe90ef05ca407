// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// TestCheckRecorderStream: `camnode check` reads the recorder server's
// certificate, key and client CA and the push's hub CA, client
// certificate and password file with the node's own loaders, and says in
// one line each what is wrong; plain RTSP is a warning; nothing configured
// gives no line.
func TestCheckRecorderStream(t *testing.T) {
	pki := mqtttest.NewPKI(t)
	srvCert, srvKey := pki.Issue(t, "node-7-recorder", true)
	nodeCert, nodeKey := pki.Issue(t, "node-7", false)
	dir := t.TempDir()
	pw := filepath.Join(dir, "push.password")
	open := filepath.Join(dir, "open.password")
	notPEM := filepath.Join(dir, "ca.txt")
	for p, mode := range map[string]os.FileMode{pw: 0o600, open: 0o644, notPEM: 0o644} {
		if err := os.WriteFile(p, []byte("secret\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
	}
	server := config.Recorder{Listen: ":8322", CertFile: srvCert, KeyFile: srvKey, ClientCAFile: pki.CAFile(),
		Recorders: []config.RecorderAccess{{Name: "mediamtx", CertName: "hub"}, {Name: "frigate", DigestHA1: strings.Repeat("0", 32)}}}
	pushed := config.Recorder{Push: "rtsps://hub.example:8322/node-7", PushCAFile: pki.CAFile(),
		PushCertFile: nodeCert, PushKeyFile: nodeKey, PushUser: "node-7", PushPasswordFile: pw}
	now := time.Now()
	for _, tc := range []struct {
		name string
		c    func(*config.Recorder)
		now  time.Time
		want []string // "NAME STATUS detail..." per result
	}{
		{"none", func(r *config.Recorder) { *r = config.Recorder{} }, now, nil},
		{"server", func(*config.Recorder) {}, now, []string{`recorder PASS rtsps://:8322/`, `certificate "node-7-recorder"`, "client CA", "2 named recorder(s): mediamtx, frigate"}},
		{"server key missing", func(r *config.Recorder) { r.KeyFile = filepath.Join(dir, "nope.key") }, now, []string{"recorder FAIL", "nope.key"}},
		{"server expired", func(*config.Recorder) {}, now.AddDate(20, 0, 0), []string{"recorder FAIL", "server certificate", "expired on"}},
		{"server CA not PEM", func(r *config.Recorder) { r.ClientCAFile = notPEM }, now, []string{"recorder FAIL", "client CA", "ca.txt"}},
		{"server plain", func(r *config.Recorder) {
			r.Listen, r.InsecurePlain, r.CertFile, r.KeyFile = "127.0.0.1:8554", true, "", ""
		}, now, []string{"recorder WARN", "PLAIN RTSP", "insecure_plain"}},
		{"push", func(r *config.Recorder) { *r = pushed }, now, []string{"push PASS rtsps://hub.example:8322/node-7", "hub CA", `client certificate "node-7"`, `Digest user "node-7"`, "not connected"}},
		{"push and server", func(r *config.Recorder) {
			p := pushed
			p.Listen, p.CertFile, p.KeyFile, p.ClientCAFile, p.Recorders = server.Listen, server.CertFile, server.KeyFile, server.ClientCAFile, server.Recorders
			*r = p
		}, now, []string{"recorder PASS", "push PASS"}},
		{"push password readable by others", func(r *config.Recorder) { *r = pushed; r.PushPasswordFile = open }, now, []string{"push FAIL", "open.password", "chmod 600"}},
		{"push password missing", func(r *config.Recorder) { *r = pushed; r.PushPasswordFile = filepath.Join(dir, "none") }, now, []string{"push FAIL", "password file"}},
		{"push CA not PEM", func(r *config.Recorder) { *r = pushed; r.PushCAFile = notPEM }, now, []string{"push FAIL", "CA", "no PEM certificate"}},
		{"push client certificate expired", func(r *config.Recorder) { *r = pushed }, now.AddDate(20, 0, 0), []string{"push FAIL", "client certificate", "expired on"}},
		{"push plain", func(r *config.Recorder) {
			*r = config.Recorder{Push: "rtsp://127.0.0.1:8554/n", PushInsecurePlain: true}
		}, now, []string{"push WARN", "PLAIN RTSP", "push_insecure_plain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := server
			tc.c(&c)
			res := checkRecorderStream(c, tc.now)
			var lines []string
			for _, r := range res {
				lines = append(lines, r.Name+" "+r.Status+" "+r.Detail)
			}
			out := strings.Join(lines, "\n")
			if len(tc.want) == 0 && len(res) != 0 {
				t.Fatalf("nothing configured, yet:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
		})
	}
}
