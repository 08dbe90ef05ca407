// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	pgpio "periph.io/x/conn/v3/gpio"
	pgpiotest "periph.io/x/conn/v3/gpio/gpiotest"
)

// driver counts how many operations are inside the "driver" at once, over
// all pins of a chip, as hid-mcp2221's shared request buffer would see
// them.
type driver struct {
	inside, worst atomic.Int32
}

func (d *driver) enter() func() {
	n := d.inside.Add(1)
	for {
		w := d.worst.Load()
		if n <= w || d.worst.CompareAndSwap(w, n) {
			break
		}
	}
	for range 20 { // hold the "request buffer" for a while
		runtime.Gosched()
	}
	return func() { d.inside.Add(-1) }
}

type driverPin struct {
	*pgpiotest.Pin
	d *driver
}

func (p driverPin) Out(l pgpio.Level) error { defer p.d.enter()(); return p.Pin.Out(l) }
func (p driverPin) Read() pgpio.Level       { defer p.d.enter()(); return p.Pin.Read() }
func (p driverPin) In(pull pgpio.Pull, e pgpio.Edge) error {
	defer p.d.enter()()
	return p.Pin.In(pull, pgpio.NoEdge) // no edges: the button and feedback poll, as on the MCP2221
}

// TestDevicesSerialiseDriverCalls: the LED and shutter writers and the
// feedback and button pollers run in their own goroutines; through Open's
// pins they never reach the driver at the same time (see serialPin for the
// kernel bug this avoids).
func TestDevicesSerialiseDriverCalls(t *testing.T) {
	d := &driver{}
	pins := map[PinRef]pgpio.PinIO{}
	for _, name := range []PinRef{"GPIO21", "GPIO18", "GPIO23", "GPIO27"} {
		pins[name] = driverPin{Pin: newPin(string(name)), d: d}
	}
	devs, err := open(Config{LED: "GPIO21", Shutter: "GPIO18", ShutterFeedback: "GPIO23", Button: "GPIO27"}, nil, lookupIn(pins))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range 300 {
				_ = devs.LED.Set(i%2 == 0)
				_ = devs.Shutter.Drive(i%2 == 1)
			}
		})
	}
	for _, in := range []*input{devs.Shutter.feedback, devs.Button.in} { // what the pollers do every 10 ms
		wg.Go(func() {
			for range 300 {
				_ = in.active()
			}
		})
	}
	wg.Wait()
	if w := d.worst.Load(); w != 1 {
		t.Fatalf("up to %d GPIO driver calls ran at once; want 1", w)
	}
}

// TestSerialPinName: a line without a name (gpioioctl lines of the
// MCP2221) is named by its configured reference in messages.
func TestSerialPinName(t *testing.T) {
	unnamed, named := newPin(""), newPin("GPIO17")
	var mu sync.Mutex
	if n := (serialPin{PinIO: unnamed, mu: &mu, ref: "gpiochip1:0"}).Name(); n != "gpiochip1:0" {
		t.Errorf("unnamed line: %q", n)
	}
	if n := (serialPin{PinIO: named, mu: &mu, ref: "GPIO17"}).String(); n != "GPIO17" {
		t.Errorf("named line: %q", n)
	}
}
