// SPDX-License-Identifier: Apache-2.0

package gpiotest

import "sync"

// LED is a fake recording LED. Each successful Set is recorded in Log as
// device "led", value "on" or "off".
type LED struct {
	// Log receives the writes; it may be nil.
	Log *Log
	// Fail, when not nil, is returned by Set, which then changes nothing and
	// records nothing. Use SetFail while the fake is in use.
	Fail error

	mu     sync.Mutex
	on     bool
	writes int
}

// Set lights the LED or turns it off, or returns Fail.
func (l *LED) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Fail != nil {
		return l.Fail
	}
	l.on = on
	l.writes++
	l.Log.Add("led", onOff(on))
	return nil
}

// Halt turns the LED off, as gpio.LED.Halt does.
func (l *LED) Halt() error {
	return l.Set(false)
}

// SetFail sets Fail while the fake is in use; nil clears it.
func (l *LED) SetFail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Fail = err
}

// On reports whether the LED is lit.
func (l *LED) On() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.on
}

// Writes returns the number of successful Set calls.
func (l *LED) Writes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
