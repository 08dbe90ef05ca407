// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	pgpio "periph.io/x/conn/v3/gpio"
)

var parsePinRefTests = []struct {
	in      string
	chip    string
	line    int
	name    string
	wantErr string // substring; "" means success
}{
	{in: "GPIO17", line: -1, name: "GPIO17"},
	{in: "  GPIO4\n", line: -1, name: "GPIO4"},
	{in: "17", line: -1, name: "17"}, // gpioreg also resolves numbers
	{in: "2712_WAKE", line: -1, name: "2712_WAKE"},
	{in: "gpiochip0-2712_WAKE", line: -1, name: "gpiochip0-2712_WAKE"},
	{in: "gpiochip0:17", chip: "gpiochip0", line: 17},
	{in: "gpiochip4:0", chip: "gpiochip4", line: 0},
	{in: "gpiochip1:007", chip: "gpiochip1", line: 7},
	{in: "pinctrl-bcm2711:65535", chip: "pinctrl-bcm2711", line: 65535},
	{in: "", wantErr: "empty"},
	{in: " \t ", wantErr: "empty"},
	{in: "GPIO 17", wantErr: "white space"},
	{in: "GPIO\x0017", wantErr: "control"},
	{in: "\xff", wantErr: "UTF-8"},
	{in: "-1", wantErr: "start with a letter or digit"},
	{in: "_x", wantErr: "start with a letter or digit"},
	{in: ":", wantErr: "missing chip"},
	{in: ":17", wantErr: "missing chip"},
	{in: "gpiochip0:", wantErr: "missing line"},
	{in: "gpiochip0:-1", wantErr: "negative"},
	{in: "gpiochip0:-0", wantErr: "negative"},
	{in: "gpiochip0:+3", wantErr: "not a decimal number"},
	{in: "gpiochip0:abc", wantErr: "not a decimal number"},
	{in: "gpiochip0:0x10", wantErr: "not a decimal number"},
	{in: "gpiochip0:65536", wantErr: "above 65535"},
	{in: "gpiochip0:99999999999999999999", wantErr: "above 65535"},
	{in: "gpiochip0:1:2", wantErr: "more than one ':'"},
	{in: "/dev/gpiochip0:3", wantErr: "not a path"},
	{in: "chip=gpiochip0,line=17", wantErr: "CHIP:LINE"},
}

func TestParsePinRef(t *testing.T) {
	for _, tt := range parsePinRefTests {
		chip, line, name, err := ParsePinRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePinRef(%q) error = %v, want one mentioning %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePinRef(%q): %v", tt.in, err)
			continue
		}
		if chip != tt.chip || line != tt.line || name != tt.name {
			t.Errorf("ParsePinRef(%q) = %q, %d, %q; want %q, %d, %q", tt.in, chip, line, name, tt.chip, tt.line, tt.name)
		}
	}
}

func FuzzParsePinRef(f *testing.F) {
	for _, tt := range parsePinRefTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		chip, line, name, err := ParsePinRef(s)
		if err != nil {
			if chip != "" || name != "" || line != -1 {
				t.Fatalf("ParsePinRef(%q) failed with results %q, %d, %q", s, chip, line, name)
			}
			return
		}
		var canon string
		switch {
		case name != "":
			if chip != "" || line != -1 {
				t.Fatalf("ParsePinRef(%q): name %q with chip %q line %d", s, name, chip, line)
			}
			canon = name
		case chip != "":
			if line < 0 || line > maxLine {
				t.Fatalf("ParsePinRef(%q): line %d out of range", s, line)
			}
			canon = chip + ":" + strconv.Itoa(line)
		default:
			t.Fatalf("ParsePinRef(%q) succeeded with neither name nor chip", s)
		}
		if strings.ContainsFunc(canon, unicode.IsSpace) {
			t.Fatalf("ParsePinRef(%q) result %q contains white space", s, canon)
		}
		c2, l2, n2, err := ParsePinRef(canon)
		if err != nil || c2 != chip || l2 != line || n2 != name {
			t.Fatalf("round trip of %q via %q: %q, %d, %q, %v", s, canon, c2, l2, n2, err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	valid := Config{LED: "GPIO21", Shutter: "GPIO18", ShutterFeedback: "gpiochip0:23", Button: "GPIO27"}
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings, each must appear; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"minimal", func(c *Config) { c.ShutterFeedback, c.Button = "", "" }, nil},
		{"servo on a named pin", func(c *Config) { c.ShutterConfig.Mode = ModeServo }, nil},
		{"led missing", func(c *Config) { c.LED = "" }, []string{"gpio: led: required"}},
		{"shutter missing", func(c *Config) { c.Shutter = "" }, []string{"gpio: shutter: required"}},
		{"led garbage", func(c *Config) { c.LED = "GPIO 21" }, []string{"gpio: led: "}},
		{"feedback negative line", func(c *Config) { c.ShutterFeedback = "gpiochip0:-2" }, []string{"gpio: shutter_feedback: ", "negative"}},
		{"button garbage", func(c *Config) { c.Button = "a:b:c" }, []string{"gpio: button: "}},
		{"same pin twice", func(c *Config) { c.Button = "GPIO21" }, []string{"gpio: button: ", "already used by led"}},
		{"same line twice", func(c *Config) { c.Button = "gpiochip0:023" }, []string{"gpio: button: ", "shutter_feedback"}},
		{"bad mode", func(c *Config) { c.ShutterConfig.Mode = "motor" }, []string{"gpio: shutter_config.mode: "}},
		{"bad duty", func(c *Config) {
			c.ShutterConfig = ShutterConfig{Mode: ModeServo, OpenDuty: -5}
		}, []string{"gpio: shutter_config.open_duty: "}},
		{"servo on a chip line", func(c *Config) {
			c.Shutter, c.ShutterConfig.Mode = "gpiochip0:18", ModeServo
		}, []string{"gpio: shutter: ", "PWM"}},
		{"negative feedback debounce", func(c *Config) { c.ShutterConfig.Debounce = -time.Millisecond }, []string{"gpio: shutter_config.debounce: "}},
		{"negative button poll", func(c *Config) { c.ButtonConfig.PollInterval = -time.Millisecond }, []string{"gpio: button_config.poll_interval: "}},
		{"everything wrong", func(c *Config) {
			*c = Config{ShutterFeedback: "x:y", ShutterConfig: ShutterConfig{Mode: "?"}, ButtonConfig: ButtonConfig{Debounce: -1}}
		}, []string{"gpio: led: ", "gpio: shutter: ", "gpio: shutter_feedback: ", "shutter_config.mode", "button_config.debounce"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.modify(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s := ShutterConfig{}.withDefaults()
	if s.Mode != ModeLevel || s.Debounce != 20*time.Millisecond || s.PollInterval != 10*time.Millisecond {
		t.Errorf("shutter defaults: %+v", s)
	}
	// 2 ms and 1 ms of a 20 ms period.
	if s.OpenDuty != pgpio.DutyMax*2/20 || s.ClosedDuty != pgpio.DutyMax*1/20 || s.Frequency != DefaultServoFrequency {
		t.Errorf("servo defaults: open %d closed %d at %s", s.OpenDuty, s.ClosedDuty, s.Frequency)
	}
	b := ButtonConfig{}.withDefaults()
	if b.Debounce != 30*time.Millisecond || b.PollInterval != 10*time.Millisecond {
		t.Errorf("button defaults: %+v", b)
	}
}
