// SPDX-License-Identifier: Apache-2.0

package mcp2221sim

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// ReportSize is the size of every MCP2221 report, in and out.
const ReportSize = 64

// Lines is the number of GPIO pins (GP0..GP3).
const Lines = 4

// Command codes (byte 0 of an output report, echoed in the reply).
const (
	CmdStatus          = 0x10 // I2C status / set parameters (cancel, speed)
	CmdI2CGetData      = 0x40
	CmdGPIOSet         = 0x50
	CmdGPIOGet         = 0x51
	CmdSetSRAM         = 0x60
	CmdGetSRAM         = 0x61
	CmdI2CWrite        = 0x90
	CmdI2CRead         = 0x91
	CmdI2CReadRepeated = 0x93
	CmdI2CWriteNoStop  = 0x94
	CmdReadFlash       = 0xb0
)

// Reply status bytes and I2C codes the driver interprets.
const (
	statusOK       = 0x00
	statusFailed   = 0x01
	i2cCancel      = 0x10 // byte 2 of a status request: cancel the transfer
	i2cSetSpeed    = 0x20 // byte 3 of a status request: set the divider
	i2cAddrNACK    = 0x25 // I2C engine state: address not acknowledged
	i2cACKStatus   = 20   // byte of the status reply holding the ACK flags
	i2cNACKFlag    = 0x40 // in byte i2cACKStatus: the slave did not ACK
	sramGPIOOffset = 22   // first GP setting byte of the SRAM reply
)

// Direction is a pin direction as encoded by the MCP2221.
type Direction uint8

// Pin directions.
const (
	Output Direction = 0
	Input  Direction = 1
)

func (d Direction) String() string {
	if d == Output {
		return "out"
	}
	return "in"
}

// Layout is the per-pin byte order of the GPIO get reply.
type Layout int

const (
	// LayoutDirValue is {direction, value} per pin, as Linux before 6.4
	// reads it (its get callback reads the value from the second byte).
	LayoutDirValue Layout = iota + 1
	// LayoutValueDir is {value, direction} per pin: the datasheet's
	// layout, read correctly by Linux 6.4 and later.
	LayoutValueDir
)

func (l Layout) String() string {
	switch l {
	case LayoutDirValue:
		return "direction,value"
	case LayoutValueDir:
		return "value,direction"
	}
	return "Layout(" + strconv.Itoa(int(l)) + ")"
}

// LayoutForKernel returns the GPIO get layout that the hid-mcp2221 driver
// of the kernel with this release string ("6.1.0-56-amd64") expects:
// LayoutDirValue before 6.4, LayoutValueDir from 6.4 on and for a release
// it cannot parse.
func LayoutForKernel(release string) Layout {
	maj, rest, _ := strings.Cut(release, ".")
	minStr := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minStr = rest[:i]
	}
	major, err1 := strconv.Atoi(maj)
	minor, err2 := strconv.Atoi(minStr)
	if err1 != nil || err2 != nil {
		return LayoutValueDir
	}
	if major < 6 || major == 6 && minor < 4 {
		return LayoutDirValue
	}
	return LayoutValueDir
}

// Event is one GPIO write the chip received, in arrival order.
type Event struct {
	// Seq numbers events from 1, in the order the chip applied them; it
	// is shared with Mark, so writes can be ordered against test events.
	Seq  uint64
	Line int
	// SetDirection is true for a direction change (Direction is valid)
	// and false for an output value write (Level is valid).
	SetDirection bool
	Direction    Direction
	Level        bool
	// Mark is the label of a Mark event; Line is -1 for marks.
	Mark string
}

func (e Event) String() string {
	switch {
	case e.Mark != "":
		return fmt.Sprintf("#%d %s", e.Seq, e.Mark)
	case e.SetDirection:
		return fmt.Sprintf("#%d GP%d dir=%s", e.Seq, e.Line, e.Direction)
	}
	return fmt.Sprintf("#%d GP%d=%d", e.Seq, e.Line, b2i(e.Level))
}

// State is a snapshot of the pins.
type State struct {
	// Dir is each pin's direction.
	Dir [Lines]Direction
	// Out is each pin's output latch, In the level applied to it from
	// outside (SetInput or a Link).
	Out, In [Lines]bool
	// Seq is the sequence number of the last event.
	Seq uint64
	// Reports counts the reports handled, by command code.
	Reports map[byte]int
}

// Level is what the pin reads: the output latch for an output, the applied
// input level for an input.
func (s State) Level(line int) bool {
	if s.Dir[line] == Output {
		return s.Out[line]
	}
	return s.In[line]
}

// Chip models an MCP2221's GPIO pins and answers the driver's reports. Its
// methods are safe for concurrent use. All pins start as inputs reading
// low, as a chip whose flash configures GP0..GP3 as GPIO inputs.
type Chip struct {
	layout Layout

	mu      sync.Mutex
	dir     [Lines]Direction
	out, in [Lines]bool
	links   [Lines]int // output pin -> input pin it drives, or -1
	seq     uint64
	events  []Event
	reports map[byte]int
	nack    bool          // the last I2C transfer found no slave
	changed chan struct{} // closed and replaced on every change
}

// NewChip returns a chip answering GPIO get with layout.
func NewChip(layout Layout) *Chip {
	c := &Chip{layout: layout, reports: map[byte]int{}, changed: make(chan struct{})}
	for i := range c.dir {
		c.dir[i] = Input
		c.links[i] = -1
	}
	return c
}

// Layout returns the GPIO get layout.
func (c *Chip) Layout() Layout { return c.layout }

// Handle answers one output report (the driver sends 1 to 64 bytes) with
// a 64-byte input report, or nil for an empty report. Unknown commands
// are answered with a failure status rather than ignored, so the driver
// does not wait for its timeout.
func (c *Chip) Handle(req []byte) []byte {
	if len(req) == 0 {
		return nil
	}
	var r [ReportSize]byte
	copy(r[:], req) // short reports: the rest reads as zero
	resp := make([]byte, ReportSize)
	resp[0] = r[0]

	c.mu.Lock()
	defer c.mu.Unlock()
	c.reports[r[0]]++
	changed := false
	switch r[0] {
	case CmdGPIOSet:
		// Per pin at 2+4i: alter value, value, alter direction, direction.
		for i := range Lines {
			b := 2 + 4*i
			if r[b] != 0 {
				c.out[i] = r[b+1] != 0
				c.record(Event{Line: i, Level: c.out[i]})
			}
			if r[b+2] != 0 {
				c.dir[i] = Output
				if r[b+3] != 0 {
					c.dir[i] = Input
				}
				c.record(Event{Line: i, SetDirection: true, Direction: c.dir[i]})
			}
			pin := r[b] != 0 || r[b+2] != 0
			changed = changed || pin
			if pin && c.links[i] >= 0 && c.dir[i] == Output {
				c.in[c.links[i]] = c.out[i]
			}
			resp[b], resp[b+1], resp[b+2], resp[b+3] = r[b], b2u(c.out[i]), r[b+2], byte(c.dir[i])
		}
	case CmdGPIOGet:
		for i := range Lines {
			v, d := b2u(c.level(i)), byte(c.dir[i])
			if c.layout == LayoutDirValue {
				v, d = d, v
			}
			resp[2+2*i], resp[3+2*i] = v, d
		}
	case CmdStatus:
		if r[2] == i2cCancel {
			resp[2] = i2cCancel
			c.nack = false
		}
		if r[3] == i2cSetSpeed {
			resp[3], resp[4] = i2cSetSpeed, r[4]
		}
		if c.nack {
			resp[i2cACKStatus] = i2cNACKFlag
		}
	case CmdI2CWrite, CmdI2CWriteNoStop, CmdI2CRead, CmdI2CReadRepeated:
		// An empty bus: the transfer is accepted, the address is not
		// acknowledged (reported by the next status or get-data report).
		c.nack = true
	case CmdI2CGetData:
		resp[2] = i2cAddrNACK
	case CmdGetSRAM:
		// GP settings: bits 2..0 designation (0 = GPIO), bit 3 direction,
		// bit 4 output value.
		for i := range Lines {
			resp[sramGPIOOffset+i] = byte(c.dir[i])<<3 | b2u(c.out[i])<<4
		}
	case CmdSetSRAM, CmdReadFlash:
	default:
		resp[1] = statusFailed
		return resp
	}
	resp[1] = statusOK
	if changed {
		c.notify()
	}
	return resp
}

// level is what pin i reads; c.mu held.
func (c *Chip) level(i int) bool {
	if c.dir[i] == Output {
		return c.out[i]
	}
	return c.in[i]
}

// record appends e with the next sequence number; c.mu held.
func (c *Chip) record(e Event) {
	c.seq++
	e.Seq = c.seq
	if e.Mark != "" {
		e.Line = -1
	}
	c.events = append(c.events, e)
}

// notify wakes WaitFor callers; c.mu held.
func (c *Chip) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// SetInput applies level to pin line from outside, as a switch would. The
// driver reads it while the pin is an input.
func (c *Chip) SetInput(line int, level bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in[line] = level
	c.notify()
}

// Link wires output pin out to input pin in: every value written to out
// while it is an output is applied to in, as a loopback wire or a shutter
// whose feedback switch follows its drive. It also applies out's current
// latch now. A negative in removes the link.
func (c *Chip) Link(out, in int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.links[out] = in
	if in >= 0 {
		c.in[in] = c.out[out]
	}
	c.notify()
}

// Mark records a labelled event in the write sequence and returns its
// sequence number, so a test can order its own events against the writes.
func (c *Chip) Mark(label string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record(Event{Mark: label})
	c.notify()
	return c.seq
}

// Events returns a copy of the events recorded so far.
func (c *Chip) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// State returns a snapshot of the pins.
func (c *Chip) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state()
}

func (c *Chip) state() State {
	s := State{Dir: c.dir, Out: c.out, In: c.in, Seq: c.seq, Reports: make(map[byte]int, len(c.reports))}
	for k, v := range c.reports {
		s.Reports[k] = v
	}
	return s
}

// WaitFor returns the first state for which cond holds, checking now and
// after every change, or ctx's error with the last state.
func (c *Chip) WaitFor(ctx context.Context, cond func(State) bool) (State, error) {
	for {
		c.mu.Lock()
		s, ch := c.state(), c.changed
		c.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func b2i(b bool) int { return int(b2u(b)) }
