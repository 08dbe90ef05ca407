// SPDX-License-Identifier: Apache-2.0

package pushurl

import (
	"strings"
	"testing"
)

// targetCases feed TestParse and FuzzParse's seeds.
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

func TestParse(t *testing.T) {
	for _, tc := range targetCases {
		got, err := Parse(tc.url, tc.insecure)
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

// FuzzParse: any input is refused with an error or gives a target
// that parses again to itself, names a host and a port, and never holds
// credentials or a plaintext non-loopback address.
func FuzzParse(f *testing.F) {
	for _, tc := range targetCases {
		f.Add(tc.url, tc.insecure)
	}
	f.Fuzz(func(t *testing.T, raw string, insecure bool) {
		got, err := Parse(raw, insecure)
		if err != nil {
			return
		}
		if got.Host == "" || got.Name == "" || !strings.HasPrefix(got.Path, "/") || strings.Contains(got.Host, "@") {
			t.Fatalf("%q: bad target %+v", raw, got)
		}
		if !got.Secure && !insecure {
			t.Fatalf("%q: plaintext accepted", raw)
		}
		again, err := Parse(got.String(), insecure)
		if err != nil || again != got {
			t.Fatalf("%q -> %q -> %+v, %v", raw, got.String(), again, err)
		}
	})
}
