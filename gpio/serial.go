// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"sync"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// serialPin makes every operation that reaches the GPIO driver (Out, In,
// Read, PWM, Halt) on the pins of one Devices set happen one at a time.
//
// Why: Linux 6.1's hid-mcp2221 (a USB GPIO chip, and the one our VM tests
// drive) fills its single request buffer and the index it reads the answer
// from before it takes its lock. Two threads touching different lines at
// once, which is what the feedback poller, the button poller and the
// LED/shutter writes are, then corrupt each other: the VM tests of the
// camnode binary saw a phantom privacy-button press (the button read got
// the shutter feedback's level), a shutter feedback that never read open,
// and an LED write that was lost, so the LED stayed lit after privacy was
// acknowledged. Upstream later moved the lock (the "raw_event_lock"
// patch); kernels in the field do not all have it. GPIO operations take
// microseconds on SoC pins and a USB round trip on the MCP2221: holding
// one mutex across them costs nothing that matters.
//
// WaitForEdge is not serialised: it only reads the line's event queue and
// blocks for up to its timeout.
type serialPin struct {
	pgpio.PinIO
	mu  *sync.Mutex
	ref PinRef // as configured, for messages
}

// Name is the line's name, or the configured reference when the line has
// none (gpioioctl lines of chips that name no lines, like the MCP2221).
func (p serialPin) Name() string {
	if n := p.PinIO.Name(); n != "" {
		return n
	}
	return string(p.ref)
}

// String is Name: periph pins print themselves with String.
func (p serialPin) String() string { return p.Name() }

func (p serialPin) Out(l pgpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.PinIO.Out(l)
}

func (p serialPin) In(pull pgpio.Pull, edge pgpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.PinIO.In(pull, edge)
}

func (p serialPin) Read() pgpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.PinIO.Read()
}

func (p serialPin) PWM(d pgpio.Duty, f physic.Frequency) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.PinIO.PWM(d, f)
}

func (p serialPin) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.PinIO.Halt()
}
