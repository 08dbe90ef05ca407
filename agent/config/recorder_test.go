// SPDX-License-Identifier: Apache-2.0

package config

import (
	"strings"
	"testing"
	"time"
)

func TestRecorderSection(t *testing.T) {
	const ok = `
[recorder]
listen = ":8322"
cert_file = "/etc/camnode/recorder.crt"
key_file = "/etc/camnode/recorder.key"
client_ca_file = "/etc/camnode/site-ca.pem"
idr_interval = "1s"
max_sessions = 2
[[recorder.recorders]]
name = "mediamtx"
cert_name = "hub-recorder"
[[recorder.recorders]]
name = "frigate"
digest_ha1 = "0123456789abcdef0123456789abcdef"
`
	const plain = `
[recorder]
listen = "127.0.0.1:8554"
insecure_plain = true
[[recorder.recorders]]
name = "local"
digest_ha1 = "0123456789abcdef0123456789abcdef"
`
	const push = `
[recorder]
push = "rtsps://hub.example:8322/ward-3"
push_ca_file = "/etc/camnode/site-ca.pem"
push_cert_file = "/etc/camnode/node.crt"
push_key_file = "/etc/camnode/node.key"
push_user = "ward-3"
push_password_file = "/etc/camnode/push.password"
`
	const pushPlain = `
[recorder]
push = "rtsp://127.0.0.1:8554/ward-3"
push_insecure_plain = true
`
	for _, tc := range []struct {
		name, text string
		want       []string // substrings of the error; none = valid
	}{
		{"absent is off", "", nil},
		{"valid", ok, nil},
		{"plain on loopback", plain, nil},
		{"plain off loopback", strings.Replace(plain, "127.0.0.1:8554", ":8554", 1), []string{"recorder.insecure_plain: plain RTSP is allowed only on a loopback"}},
		{"plain with a cert recorder", plain + "[[recorder.recorders]]\nname = \"x\"\ncert_name = \"x\"\n", []string{"recorders[1].cert_name: client certificates need TLS"}},
		{"bad listen", strings.Replace(ok, `":8322"`, `"8322"`, 1), []string{"recorder.listen"}},
		{"no cert", strings.Replace(ok, `cert_file = "/etc/camnode/recorder.crt"`, "", 1), []string{"recorder.cert_file: required"}},
		{"relative key", strings.Replace(ok, `"/etc/camnode/recorder.key"`, `"recorder.key"`, 1), []string{"recorder.key_file"}},
		{"no client ca for a cert recorder", strings.Replace(ok, `client_ca_file = "/etc/camnode/site-ca.pem"`, "", 1), []string{"recorder.client_ca_file: required"}},
		{"idr too long", strings.Replace(ok, `"1s"`, `"1m"`, 1), []string{"recorder.idr_interval"}},
		{"idr not a duration", strings.Replace(ok, `"1s"`, `"often"`, 1), []string{"not a duration"}},
		{"sessions", strings.Replace(ok, "max_sessions = 2", "max_sessions = 0", 1), []string{"recorder.max_sessions"}},
		{"no recorders", "[recorder]\nlisten = \":8322\"\ncert_file = \"/a\"\nkey_file = \"/b\"\n", []string{"recorder.recorders: needs at least one"}},
		{"recorders without listen", "[[recorder.recorders]]\nname = \"a\"\ndigest_ha1 = \"0123456789abcdef0123456789abcdef\"\n", []string{"recorder.listen: required"}},
		{"both credentials", strings.Replace(ok, `cert_name = "hub-recorder"`, "cert_name = \"hub-recorder\"\ndigest_ha1 = \"0123456789abcdef0123456789abcdef\"", 1), []string{"recorders[0]: set cert_name or digest_ha1, not both"}},
		{"no credential", strings.Replace(ok, `cert_name = "hub-recorder"`, "", 1), []string{"recorders[0]: needs cert_name"}},
		{"password, not HA1", strings.Replace(ok, `"0123456789abcdef0123456789abcdef"`, `"hunter2"`, 1), []string{"recorders[1].digest_ha1: must be the 32 lower-case hex digits", "never the password"}},
		{"duplicate name", strings.Replace(ok, `"frigate"`, `"mediamtx"`, 1), []string{`recorders[1].name: "mediamtx" is named twice`}},
		{"bad name", strings.Replace(ok, `"frigate"`, `"fri gate"`, 1), []string{"recorders[1].name"}},
		{"unknown key", ok + "password = \"x\"\n", []string{"recorder.recorders.password"}},
		// Push: a node that may open no port (no listen, no recorders).
		{"push only", push, nil},
		{"push with the server", ok[:strings.Index(ok, "[[")] + push[len("\n[recorder]\n"):] + ok[strings.Index(ok, "[["):], nil},
		{"push digest only", strings.NewReplacer("push_cert_file = \"/etc/camnode/node.crt\"\n", "", "push_key_file = \"/etc/camnode/node.key\"\n", "").Replace(push), nil},
		{"push certificate only", strings.NewReplacer("push_user = \"ward-3\"\n", "", "push_password_file = \"/etc/camnode/push.password\"\n", "").Replace(push), nil},
		{"push plain on loopback", pushPlain, nil},
		{"push plain without the flag", strings.Replace(pushPlain, "push_insecure_plain = true", "", 1), []string{"recorder.push: push URL", "plaintext rtsp://", "push_insecure_plain"}},
		{"push plain off loopback", strings.Replace(pushPlain, "127.0.0.1", "10.0.0.5", 1), []string{"recorder.push:", "only to a loopback address"}},
		{"push plain with a certificate", pushPlain + "push_cert_file = \"/a\"\npush_key_file = \"/b\"\n", []string{"recorder.push_cert_file: a client certificate needs TLS"}},
		{"push credentials in the URL", strings.Replace(push, "hub.example", "ward-3:secret@hub.example", 1), []string{"recorder.push:", "holds credentials", "push_user and push_password_file"}},
		{"push not rtsp", strings.Replace(push, "rtsps://", "https://", 1), []string{"recorder.push:", "scheme must be rtsps://"}},
		{"push no path", strings.Replace(push, "/ward-3\"", "\"", 1), []string{"recorder.push:", "names no path"}},
		{"push no CA", strings.Replace(push, "push_ca_file = \"/etc/camnode/site-ca.pem\"\n", "", 1), []string{"recorder.push_ca_file: required"}},
		{"push relative CA", strings.Replace(push, "\"/etc/camnode/site-ca.pem\"", "\"site-ca.pem\"", 1), []string{"recorder.push_ca_file: \"site-ca.pem\" must be an absolute path"}},
		{"push no credentials", "[recorder]\npush = \"rtsps://hub/ward-3\"\npush_ca_file = \"/ca\"\n", []string{"recorder.push: rtsps:// needs credentials"}},
		{"push cert without key", strings.Replace(push, "push_key_file = \"/etc/camnode/node.key\"\n", "", 1), []string{"recorder.push_cert_file: push_cert_file and push_key_file go together"}},
		{"push user without password", strings.Replace(push, "push_password_file = \"/etc/camnode/push.password\"\n", "", 1), []string{"recorder.push_user: push_user and push_password_file go together"}},
		{"push password without user", strings.Replace(push, "push_user = \"ward-3\"\n", "", 1), []string{"recorder.push_user: push_user and push_password_file go together"}},
		{"push relative password file", strings.Replace(push, "\"/etc/camnode/push.password\"", "\"push.password\"", 1), []string{"recorder.push_password_file"}},
		{"push bad user", strings.Replace(push, "\"ward-3\"\n", "\"ward:3\"\n", 1), []string{"recorder.push_user"}},
		{"push password in the config", push + "push_password = \"hunter2\"\n", []string{"recorder.push_password"}},
		{"push keys without push", strings.Replace(push, "push = \"rtsps://hub.example:8322/ward-3\"\n", "", 1), []string{"recorder.push_ca_file: set but there is no push URL", "recorder.push_user: set but"}},
		{"push idr too long", push + "idr_interval = \"1m\"\n", []string{"recorder.idr_interval"}},
		{"server keys without listen", push + "cert_file = \"/etc/camnode/recorder.crt\"\n", []string{"recorder.cert_file: is for the RTSPS server"}},
		{"push with recorders but no listen", push + "[[recorder.recorders]]\nname = \"a\"\ndigest_ha1 = \"0123456789abcdef0123456789abcdef\"\n", []string{"recorder.listen: required", "push alone"}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkParse(t, syntheticNode+tc.text, tc.want) })
	}
}

func TestRecorderDefaults(t *testing.T) {
	c := Default()
	if c.Recorder.Enabled() || c.Recorder.Serves() || c.Recorder.Pushes() {
		t.Fatal("recorder on by default")
	}
	if r := (Recorder{Push: "rtsps://hub/x"}); !r.Enabled() || r.Serves() || !r.Pushes() {
		t.Fatalf("push only: Enabled %v Serves %v Pushes %v", r.Enabled(), r.Serves(), r.Pushes())
	}
	if c.Recorder.IDRInterval.D() != 2*time.Second {
		t.Fatalf("default idr_interval %v, want 2s", c.Recorder.IDRInterval.D())
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, ":1": false, "0.0.0.0:1": false, "10.0.0.5:1": false, "x": false} {
		if Loopback(addr) != want {
			t.Errorf("Loopback(%q) = %v", addr, !want)
		}
	}
}
