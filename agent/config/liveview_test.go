// SPDX-License-Identifier: Apache-2.0

package config

import (
	"strings"
	"testing"
)

func TestLiveViewSection(t *testing.T) {
	const ok = `
[liveview]
listen = ":8443"
udp_port = 8444
cert_file = "/etc/camnode/liveview.crt"
key_file = "/etc/camnode/liveview.key"
interfaces = ["eth0"]
max_viewers = 2
bitrate_kbps = 1200
fps = 25
allowed_roles = ["staff", "security"]
`
	for _, tc := range []struct {
		name, text string
		want       []string // substrings of the error; none = valid
	}{
		{"absent is off", "", nil},
		{"valid", ok, nil},
		{"bad listen", strings.Replace(ok, `":8443"`, `"8443"`, 1), []string{"liveview.listen"}},
		{"bad udp port", strings.Replace(ok, "8444", "70000", 1), []string{"liveview.udp_port"}},
		{"no cert", strings.Replace(ok, `cert_file = "/etc/camnode/liveview.crt"`, "", 1), []string{"liveview.cert_file: required"}},
		{"relative key", strings.Replace(ok, `"/etc/camnode/liveview.key"`, `"liveview.key"`, 1), []string{"liveview.key_file"}},
		{"limits", strings.NewReplacer("max_viewers = 2", "max_viewers = 0", "bitrate_kbps = 1200", "bitrate_kbps = 5", "fps = 25", "fps = 90").Replace(ok),
			[]string{"liveview.max_viewers", "liveview.bitrate_kbps", "liveview.fps"}},
		{"roles", strings.Replace(ok, `["staff", "security"]`, `["Staff!"]`, 1), []string{"liveview.allowed_roles[0]"}},
		{"no roles", strings.Replace(ok, `["staff", "security"]`, `[]`, 1), []string{"liveview.allowed_roles"}},
		{"unknown key", ok + "stun = true\n", []string{"liveview.stun"}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkParse(t, syntheticNode+tc.text, tc.want) })
	}
}
