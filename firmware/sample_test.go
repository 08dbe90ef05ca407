// SPDX-License-Identifier: Apache-2.0

package firmware_test

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

// TestSampleConfigLoads guards camnode.toml.sample against drift from what
// the agent accepts: it goes through the agent's own config.Load.
func TestSampleConfigLoads(t *testing.T) {
	c, err := config.Load("camnode.toml.sample")
	if err != nil {
		t.Fatal(err)
	}
	if c.GPIO.Simulate || c.Camera.Source != "v4l2" {
		t.Errorf("the sample must describe real hardware: simulate=%v source=%q", c.GPIO.Simulate, c.Camera.Source)
	}
	if c.Node.IdentityFile != "/boot/firmware/camnode/identity.json" || c.Node.InstallerKeysFile != "/boot/firmware/camnode/installer-keys.pub" {
		t.Errorf("the sample must read what camctl provision writes: %q %q", c.Node.IdentityFile, c.Node.InstallerKeysFile)
	}
	if c.Node.StateDir != "/var/lib/camnode" || c.Node.ControlSocket != "/run/camnode/control.sock" {
		t.Errorf("state and socket must be in the unit's StateDirectory/RuntimeDirectory: %q %q", c.Node.StateDir, c.Node.ControlSocket)
	}
	disk, _ := os.ReadFile("camnode.toml.sample")
	if !bytes.Equal(firmware.SampleConfig(), disk) {
		t.Error("SampleConfig differs from camnode.toml.sample")
	}
}

// TestSampleConfigRecorderExample: the commented [recorder] example of the
// sample is valid as documented there: the '#' lines (an RTSPS server
// with a certificate and a Digest recorder), with the '##' push lines
// too, and the push lines alone (a node that opens no port).
func TestSampleConfigRecorderExample(t *testing.T) {
	disk, err := os.ReadFile("camnode.toml.sample")
	if err != nil {
		t.Fatal(err)
	}
	server := regexp.MustCompile(`(?m)^#([^ #\n])`)
	push := regexp.MustCompile(`(?m)^##([^ #\n])`)
	at := bytes.Index(disk, []byte("\n#[recorder]\n"))
	if at < 0 {
		t.Fatal("no commented [recorder] example in the sample")
	}
	base, example := disk[:at+1], disk[at+1:]
	var pushOnly []byte
	for _, line := range bytes.SplitAfter(example, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("##")) || bytes.HasPrefix(line, []byte("#[recorder]")) {
			pushOnly = append(pushOnly, line...)
		}
	}
	dir := t.TempDir()
	for name, text := range map[string][]byte{
		"server":          server.ReplaceAll(example, []byte("$1")),
		"server and push": server.ReplaceAll(push.ReplaceAll(example, []byte("$1")), []byte("$1")),
		"push only":       server.ReplaceAll(push.ReplaceAll(pushOnly, []byte("$1")), []byte("$1")),
	} {
		p := dir + "/" + name + ".toml"
		if err := os.WriteFile(p, append(append([]byte(nil), base...), text...), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, text)
		}
		r := c.Recorder
		wantServer, wantPush := name != "push only", name != "server"
		if r.Serves() != wantServer || r.Pushes() != wantPush {
			t.Errorf("%s: serves %v, pushes %v", name, r.Serves(), r.Pushes())
		}
		if wantServer && (len(r.Recorders) != 2 || r.Recorders[0].CertName == "" || r.Recorders[1].DigestHA1 == "") {
			t.Errorf("%s: recorders %+v, want one certificate and one Digest recorder", name, r.Recorders)
		}
	}
	if c, err := config.Load("camnode.toml.sample"); err != nil || c.Recorder.Enabled() {
		t.Errorf("the sample as shipped must leave the recorder off: %v", err)
	}
}
