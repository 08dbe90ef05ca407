// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/camnode/camnode/firmware"
)

const validGPIO = `
[gpio]
led = "GPIO17"
shutter = "GPIO27"
shutter_feedback = "GPIO22"
button = "gpiochip0:23"
`

// syntheticNode is the smallest valid config: synthetic camera, simulated
// GPIO. Section tests append their section to it.
const syntheticNode = "[camera]\nsource = \"synthetic\"\nformats = [\"I420\"]\n[gpio]\nsimulate = true\n"

// configCases feeds TestParse and the seeds of FuzzParse.
var configCases = []struct {
	name    string
	text    string
	wantErr []string // substrings; empty means valid
}{
	{"defaults plus pins", validGPIO, nil},
	{"synthetic camera, simulated gpio", syntheticNode, nil},
	{"durations", validGPIO + "shutter_confirm_timeout = \"750ms\"\n[capture]\nstop_timeout = \"1s\"\nretry_min = \"100ms\"\nretry_max = \"10s\"\n", nil},
	{"unknown key", validGPIO + "ledd = \"GPIO5\"\n", []string{"unknown key(s): gpio.ledd"}},
	{"unknown section", validGPIO + "[zone]\nclass = \"reception\"\n", []string{"unknown key(s): zone"}},
	{"syntax error names the line", "[node]\nstate_dir = \n", []string{"line 2"}},
	{"missing pins", "", []string{"gpio: led: required", "gpio: shutter: required"}},
	{"relative paths", validGPIO + "[node]\nstate_dir = \"var/lib\"\n", []string{"node.state_dir"}},
	{"bad camera", validGPIO + "[camera]\nsource = \"rtsp\"\nwidth = 641\nfps = 0\n", []string{"camera.source", "camera.width", "camera.fps"}},
	{"bad format", validGPIO + "[camera]\nformats = [\"YUYV\", \"WEBM\"]\n", []string{"camera.formats[1]"}},
	{"synthetic needs raw", "[camera]\nsource = \"synthetic\"\nformats = [\"H264\"]\n[gpio]\nsimulate = true\n", []string{"synthetic source makes I420 or YUYV"}},
	{"bad duration", validGPIO + "shutter_confirm_timeout = \"soon\"\n", []string{"not a duration"}},
	{"duration out of range", validGPIO + "[capture]\nretry_min = \"1s\"\nretry_max = \"500ms\"\n", []string{"capture.retry_max"}},
	{"audio poll too slow", validGPIO + "[audio]\npoll_interval = \"10s\"\n", []string{"audio.poll_interval"}},
	{"audit rotation", validGPIO + "[audit]\nrotate_size = 1048576\nrotate_age = \"24h\"\nkeep_size = 8388608\nkeep_age = \"720h\"\n", nil},
	{"audit rotation bad", validGPIO + "[audit]\nrotate_size = 1000\nrotate_age = \"1s\"\nkeep_size = 10\nkeep_age = \"1h\"\n", []string{"audit.rotate_size", "audit.rotate_age", "audit.keep_size", "audit.keep_age"}},
	{"bad log level", validGPIO + "[log]\nlevel = \"chatty\"\n", []string{"log.level"}},
	{"same pin twice", "[gpio]\nled = \"GPIO17\"\nshutter = \"GPIO17\"\n", []string{"already used"}},
	{"wrong type", validGPIO + "[camera]\nwidth = \"wide\"\n", []string{"width"}},
}

func TestParse(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) { checkParse(t, tc.text, tc.wantErr) })
	}
}

// checkParse parses text: with no wantErr it must be valid (and pass
// Validate); otherwise the error must mention each of wantErr, and no
// config comes with it.
func checkParse(t *testing.T, text string, wantErr []string) {
	t.Helper()
	c, err := Parse([]byte(text))
	if len(wantErr) == 0 {
		if err != nil {
			t.Fatalf("Parse = %v, want no error", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate of a parsed config = %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Parse accepted invalid config, want errors %q", wantErr)
	}
	for _, w := range wantErr {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Parse error %q does not mention %q", err, w)
		}
	}
	if c.Node.StateDir != "" {
		t.Errorf("Parse returned a config along with an error")
	}
}

func TestDefaultsApplied(t *testing.T) {
	c, err := Parse([]byte(validGPIO))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.StateDir != "/var/lib/camnode" || c.Camera.FPS != 25 || c.GPIO.ShutterConfirmTimeout.D() != 2*time.Second {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(validGPIO), 0o600)
	if _, err := Load(good); err != nil {
		t.Fatalf("Load(good) = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil {
		t.Fatal("Load(missing) succeeded")
	}
	big := filepath.Join(dir, "big.toml")
	os.WriteFile(big, []byte(strings.Repeat("# padding\n", MaxSize/10+1)), 0o600)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("Load(big) = %v, want a size error", err)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[camera]\nfps = 500\n"+validGPIO), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "camera.fps") {
		t.Fatalf("Load(bad) = %v, want the path and the key", err)
	}
}

// FuzzParse: no input panics, and whatever Parse accepts validates.
func FuzzParse(f *testing.F) {
	for _, tc := range configCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse([]byte(text))
		if err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted config does not validate: %v", err)
			}
		}
	})
}

// TestLoadNotARegularFile: a FIFO at the config path used to hang
// check-config and run (and with them SIGTERM); /dev/zero would be read for
// ever. Both are a prompt, clear error.
func TestLoadNotARegularFile(t *testing.T) {
	for kind, p := range firmwaretest.HostilePaths(t, t.TempDir(), ".toml") {
		t.Run(kind, func(t *testing.T) {
			err := firmwaretest.NoHang(t, "Load("+kind+")", func() error { _, err := Load(p); return err })
			if !errors.Is(err, firmware.ErrNotRegular) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load(%s) = %v, want a not-a-regular-file error naming it", kind, err)
			}
		})
	}
}
