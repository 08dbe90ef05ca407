// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	pgpio "periph.io/x/conn/v3/gpio"
	pgpiotest "periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
)

// newPin returns periph's fake pin with edge support. Inside a synctest
// bubble, its WaitForEdge timeouts run on fake time.
func newPin(name string) *pgpiotest.Pin {
	return &pgpiotest.Pin{
		N:         name,
		Clock:     clockwork.NewRealClock(),
		EdgesChan: make(chan pgpio.Level),
	}
}

var errBroken = errors.New("broken pin")

// failPin fails every write.
type failPin struct{ *pgpiotest.Pin }

func (failPin) Out(pgpio.Level) error                  { return errBroken }
func (failPin) PWM(pgpio.Duty, physic.Frequency) error { return errBroken }

// pollPin is a fake pin without working edge detection: either In rejects
// edges (as a chip without IRQ does, ENXIO), or In accepts them but
// WaitForEdge returns false at once. Levels are set with Out.
type pollPin struct {
	*pgpiotest.Pin
	rejectEdges bool
	waits       atomic.Int32
}

func (p *pollPin) In(pull pgpio.Pull, edge pgpio.Edge) error {
	if p.rejectEdges && edge != pgpio.NoEdge {
		return errors.New("no such device or address")
	}
	return p.Pin.In(pull, pgpio.NoEdge)
}

func (p *pollPin) WaitForEdge(time.Duration) bool {
	p.waits.Add(1)
	return false
}

// haltPin's Halt interrupts a pending WaitForEdge, as gpioioctl's does.
type haltPin struct {
	*pgpiotest.Pin
	halt chan struct{}
}

func (p *haltPin) Halt() error {
	select {
	case p.halt <- struct{}{}:
	default:
	}
	return nil
}

func (p *haltPin) WaitForEdge(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-p.EdgesChan:
		_ = p.Out(l)
		return true
	case <-p.halt:
		return false
	case <-t.C:
		return false
	}
}

// inputPin is a test input with a way to change its level.
type inputPin struct {
	pin pgpio.PinIO
	set func(pgpio.Level)
	// edges is the expected edge mode; waits, if not nil, counts
	// WaitForEdge calls.
	edges bool
	waits *atomic.Int32
}

// inputKinds builds each kind of input pin, for tables. Call it inside the
// synctest bubble.
var inputKinds = []struct {
	name string
	make func() inputPin
}{
	{"edges", func() inputPin {
		p := newPin("IN")
		return inputPin{pin: p, set: func(l pgpio.Level) { p.EdgesChan <- l }, edges: true}
	}},
	{"poll/In rejects edges", func() inputPin {
		p := &pollPin{Pin: newPin("IN"), rejectEdges: true}
		return inputPin{pin: p, set: func(l pgpio.Level) { _ = p.Out(l) }, waits: &p.waits}
	}},
	{"poll/WaitForEdge unsupported", func() inputPin {
		p := &pollPin{Pin: newPin("IN")}
		return inputPin{pin: p, set: func(l pgpio.Level) { _ = p.Out(l) }, edges: true, waits: &p.waits}
	}},
}

// closeOnCleanup waits, when the test ends and its context is canceled,
// for ch to be closed. Inside a synctest bubble the test would otherwise
// end with the watcher still blocked, which synctest reports as a deadlock.
func closeOnCleanup[T any](t interface{ Cleanup(func()) }, ch <-chan T) <-chan T {
	t.Cleanup(func() {
		for range ch {
		}
	})
	return ch
}

// pinNoIn is a fake pin whose In always fails.
type pinNoIn struct{ pgpiotest.Pin }

func (*pinNoIn) In(pgpio.Pull, pgpio.Edge) error { return errors.New("line busy") }
