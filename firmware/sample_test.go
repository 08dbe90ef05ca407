// SPDX-License-Identifier: Apache-2.0

package firmware_test

import (
	"bytes"
	"os"
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
