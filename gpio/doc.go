// SPDX-License-Identifier: Apache-2.0

// Package gpio drives camnode's physical privacy hardware through periph.io:
// the recording indicator ([LED]), the privacy shutter ([Shutter], a solenoid
// driven by a level or a servo driven by PWM, with an optional feedback
// switch) and the technician's privacy toggle ([Button]).
//
// The device types take periph pins ([pgpio.PinOut], [pgpio.PinIn]), so tests
// can use periph's fake pins and the agent can be tested against the
// stateful fakes in package gpiotest. [Open] resolves the pins named in a
// [Config] through periph's registries; the caller must have called
// host.Init first.
//
// # Pin references
//
// A [PinRef] is either a periph gpioreg name such as "GPIO17", or a GPIO
// character-device line written "CHIP:LINE", for example "gpiochip0:17",
// where CHIP is the kernel chip name (gpiochip0), which is also the
// basename of its /dev path. Use the CHIP:LINE form for lines that have no
// name. See [ParsePinRef].
//
// # Inputs
//
// Inputs (the shutter feedback switch and the button) are debounced. They
// are configured with a pull toward their inactive level (pull-up when
// active-low, pull-down otherwise) and with edge detection on both edges.
// The watcher waits for edges with a bounded timeout, and also re-reads the
// level on every timeout, so a missed edge is corrected. Many GPIO chips have
// no interrupt line and reject edge detection (ENXIO); then, or when
// WaitForEdge keeps returning at once, the watcher polls the level every
// PollInterval instead.
//
// # Fail-safe
//
// [Open] leaves the LED off and the shutter closed. Software cannot make the
// hardware fail-safe on its own: with the GPIO character device a line may
// revert to its default state when the process exits, so the shutter must
// be closed and the LED dark by hardware default.
package gpio
