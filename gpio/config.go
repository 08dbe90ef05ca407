// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PinRef names a GPIO pin in the configuration. It is either a periph
// gpioreg name such as "GPIO17", or "CHIP:LINE" such as "gpiochip0:17" for a
// line of a GPIO character device, where CHIP is the chip name (the
// basename of its /dev path) and LINE its decimal line offset. See
// ParsePinRef.
type PinRef string

// maxLine bounds line offsets; the kernel's are u32, real chips have far
// fewer lines.
const maxLine = 1<<16 - 1

// ParsePinRef parses a PinRef. For a gpioreg name it returns name, with
// chip "" and line -1. For "CHIP:LINE" it returns chip and line, with name
// "". Surrounding white space is ignored. It returns an error for an empty
// reference, white space or control characters inside it, a reference
// starting with a sign or punctuation, more than one colon, an empty chip,
// and a line that is missing, not a decimal number, negative or above 65535.
func ParsePinRef(s string) (chip string, line int, name string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", -1, "", errors.New("empty pin reference")
	}
	if !utf8.ValidString(s) {
		return "", -1, "", fmt.Errorf("pin reference %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", -1, "", fmt.Errorf("pin reference %q contains white space or a control character", s)
		}
	}
	if strings.ContainsRune(s, '=') {
		return "", -1, "", fmt.Errorf("pin reference %q: use a pin name like GPIO17 or CHIP:LINE like gpiochip0:17", s)
	}
	c, l, found := strings.Cut(s, ":")
	if !found {
		if r, _ := utf8.DecodeRuneInString(s); !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return "", -1, "", fmt.Errorf("pin name %q must start with a letter or digit", s)
		}
		return "", -1, s, nil
	}
	switch {
	case c == "":
		return "", -1, "", fmt.Errorf("pin reference %q: missing chip before ':' (want CHIP:LINE like gpiochip0:17)", s)
	case strings.Contains(l, ":"):
		return "", -1, "", fmt.Errorf("pin reference %q: more than one ':' (want CHIP:LINE like gpiochip0:17)", s)
	case strings.ContainsRune(c, '/'):
		return "", -1, "", fmt.Errorf("pin reference %q: chip must be a name like gpiochip0, not a path", s)
	case l == "":
		return "", -1, "", fmt.Errorf("pin reference %q: missing line after ':' (want CHIP:LINE like gpiochip0:17)", s)
	case strings.HasPrefix(l, "-"):
		return "", -1, "", fmt.Errorf("pin reference %q: line must not be negative", s)
	}
	for _, r := range l {
		if r < '0' || r > '9' {
			return "", -1, "", fmt.Errorf("pin reference %q: line %q is not a decimal number", s, l)
		}
	}
	n, err := strconv.ParseUint(l, 10, 32)
	if err != nil || n > maxLine {
		return "", -1, "", fmt.Errorf("pin reference %q: line %s is above %d", s, l, maxLine)
	}
	return c, int(n), "", nil
}

// Config says which pins camnode's privacy hardware is wired to. The toml
// names of the fields are the keys that Validate's errors name.
type Config struct {
	// LED is the recording LED; required.
	LED PinRef `toml:"led"`
	// LEDActiveLow lights the LED by driving the pin low.
	LEDActiveLow bool `toml:"led_active_low"`
	// Shutter drives the privacy shutter; required.
	Shutter PinRef `toml:"shutter"`
	// ShutterFeedback is the shutter's feedback switch; optional.
	ShutterFeedback PinRef `toml:"shutter_feedback"`
	// Button is the technician's privacy button; optional.
	Button PinRef `toml:"button"`
	// ShutterConfig configures the shutter drive and feedback.
	ShutterConfig ShutterConfig `toml:"shutter_config"`
	// ButtonConfig configures the button.
	ButtonConfig ButtonConfig `toml:"button_config"`
}

// Validate reports every problem in c, joined with errors.Join. Each error
// names its key, for example "gpio: shutter_config.mode: ...".
func (c Config) Validate() error {
	var errs []error
	seen := map[string]string{} // normalised ref -> key
	ref := func(key string, r PinRef, required bool) {
		if r == "" {
			if required {
				errs = append(errs, fmt.Errorf("gpio: %s: required", key))
			}
			return
		}
		chip, line, name, err := ParsePinRef(string(r))
		if err != nil {
			errs = append(errs, fmt.Errorf("gpio: %s: %w", key, err))
			return
		}
		norm := name
		if name == "" {
			norm = chip + ":" + strconv.Itoa(line)
		}
		if other, dup := seen[norm]; dup {
			errs = append(errs, fmt.Errorf("gpio: %s: pin %s is already used by %s", key, norm, other))
			return
		}
		seen[norm] = key
	}
	ref("led", c.LED, true)
	ref("shutter", c.Shutter, true)
	ref("shutter_feedback", c.ShutterFeedback, false)
	ref("button", c.Button, false)

	for _, err := range c.ShutterConfig.problems("shutter_config.") {
		errs = append(errs, fmt.Errorf("gpio: %w", err))
	}
	if c.ShutterConfig.Mode == ModeServo {
		if chip, _, _, err := ParsePinRef(string(c.Shutter)); err == nil && chip != "" {
			errs = append(errs, fmt.Errorf("gpio: shutter: servo mode needs a PWM pin, and GPIO character-device lines (%s) have no PWM; use a pin name such as GPIO18", c.Shutter))
		}
	}
	for _, err := range c.ButtonConfig.problems("button_config.") {
		errs = append(errs, fmt.Errorf("gpio: %w", err))
	}
	return errors.Join(errs...)
}
