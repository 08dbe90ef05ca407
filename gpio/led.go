// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"fmt"

	pgpio "periph.io/x/conn/v3/gpio"
)

// LED is the recording indicator. It is lit while camnode may be capturing.
type LED struct {
	pin       pgpio.PinOut
	activeLow bool
}

// NewLED returns an LED on pin, which must not be nil. When activeLow is
// true the LED is lit by driving the pin low. NewLED does not drive the pin.
func NewLED(pin pgpio.PinOut, activeLow bool) *LED {
	return &LED{pin: pin, activeLow: activeLow}
}

// Set lights the LED (on) or turns it off by driving the pin level. It
// returns periph's error, wrapped with the pin name, if the write fails.
// It does not read the level back: periph's gpioioctl GPIOLine.Read turns
// an output line into an input with a pull-up (periph host v3.8), which
// would switch the LED off (checked in the VM tests).
func (l *LED) Set(on bool) error {
	if err := l.pin.Out(pgpio.Level(on != l.activeLow)); err != nil {
		return fmt.Errorf("gpio: led %s: set %s: %w", l.pin.Name(), onOff(on), err)
	}
	return nil
}

// Halt turns the LED off.
func (l *LED) Halt() error {
	return l.Set(false)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
