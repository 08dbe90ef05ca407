// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"fmt"
	"path/filepath"
	"strings"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl"
)

// lookupHostPin resolves ref through periph's registries: names through
// gpioreg, CHIP:LINE through gpioioctl.Chips. host.Init must have run.
func lookupHostPin(ref PinRef) (pgpio.PinIO, error) {
	chip, line, name, err := ParsePinRef(string(ref))
	if err != nil {
		return nil, err
	}
	if name != "" {
		p := gpioreg.ByName(name)
		if p == nil {
			return nil, fmt.Errorf("no GPIO pin named %q on this machine (%d pins known): check the name in the [gpio] section "+
				"against the board's pin names (gpioinfo lists them), and that /dev/gpiochip* exists and is readable by camnode's user",
				name, len(gpioreg.All()))
		}
		return p, nil
	}
	var names []string
	for _, c := range gpioioctl.Chips {
		if c.Name() != chip && filepath.Base(c.Path()) != chip {
			names = append(names, c.Name())
			continue
		}
		// Check the range first: ByNumber logs through the log package.
		if line >= c.LineCount() {
			return nil, fmt.Errorf("GPIO chip %s has %d lines, no line %d", chip, c.LineCount(), line)
		}
		if l := c.ByNumber(line); l != nil {
			return l, nil
		}
		return nil, fmt.Errorf("GPIO chip %s has no line %d", chip, line)
	}
	found := strings.Join(names, ", ")
	if found == "" {
		found = "none"
	}
	return nil, fmt.Errorf("no GPIO chip %q (found: %s): check the chip in the [gpio] section (gpiodetect lists the chips), "+
		"and that /dev/gpiochip* exists and is readable by camnode's user", chip, found)
}
