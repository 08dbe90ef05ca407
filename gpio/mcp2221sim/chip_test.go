// SPDX-License-Identifier: Apache-2.0

package mcp2221sim

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The reports below are built the way hid-mcp2221 builds them.

// setValue is mcp_gpio_set: 18 bytes, alter-value flag and value of one pin.
func setValue(line int, v bool) []byte {
	b := make([]byte, 18)
	b[0] = CmdGPIOSet
	b[2+4*line] = 1
	b[3+4*line] = b2u(v)
	return b
}

// setDir is mcp_gpio_dir_set: alter-direction flag and direction.
func setDir(line int, d Direction) []byte {
	b := make([]byte, 18)
	b[0] = CmdGPIOSet
	b[4+4*line] = 1
	b[5+4*line] = byte(d)
	return b
}

// driverGet models the raw_event parsing of a GPIO get reply by the driver
// of a kernel: pre64 is Linux < 6.4, whose get reads data[2*off+3] and
// whose get_direction indexes from data[2*off+2]; 6.4+ reads the value at
// data[2*off+2] and the direction at data[2*off+3]. It returns what
// mcp_gpio_get and mcp_gpio_get_direction return (1 = input).
func driverGet(t *testing.T, c *Chip, pre64 bool, off int) (value int, dirIn bool) {
	t.Helper()
	resp := c.Handle([]byte{CmdGPIOGet})
	if len(resp) != ReportSize || resp[0] != CmdGPIOGet || resp[1] != statusOK {
		t.Fatalf("get reply % x", resp)
	}
	parse := func(idx int) (status int, dir byte) {
		if resp[idx] == 0xee || resp[idx+1] == 0xef {
			t.Fatalf("pin %d reported as not GPIO: % x", off, resp[:10])
		}
		return int(b2u(resp[idx] != 0)), resp[idx+1]
	}
	getIdx, dirIdx := 2*off+2, 2*off+2
	if pre64 {
		getIdx = 2*off + 3
	}
	value, _ = parse(getIdx)
	status, dir := parse(dirIdx)
	if status != 0 { // get_direction returns a non-zero status as is
		return value, status == 1
	}
	return value, dir == byte(Input)
}

func TestDriverViewOfPins(t *testing.T) {
	for _, tc := range []struct {
		layout Layout
		pre64  bool
	}{{LayoutDirValue, true}, {LayoutValueDir, false}} {
		t.Run(tc.layout.String(), func(t *testing.T) {
			c := NewChip(tc.layout)
			for off := range Lines {
				if v, in := driverGet(t, c, tc.pre64, off); v != 0 || !in {
					t.Errorf("GP%d at reset: value %d input %v, want 0 true", off, v, in)
				}
			}
			// gpiolib's direction_output: direction, then value.
			c.Handle(setDir(0, Output))
			c.Handle(setValue(0, false))
			if v, in := driverGet(t, c, tc.pre64, 0); v != 0 || in {
				t.Errorf("GP0 output low: value %d input %v", v, in)
			}
			c.Handle(setValue(0, true))
			if v, _ := driverGet(t, c, tc.pre64, 0); v != 1 {
				t.Errorf("GP0 output high reads %d", v)
			}
			c.SetInput(3, true)
			if v, in := driverGet(t, c, tc.pre64, 3); v != 1 || !in {
				t.Errorf("GP3 input high: value %d input %v", v, in)
			}
			// The output latch is not what an input reads.
			if v, _ := driverGet(t, c, tc.pre64, 1); v != 0 {
				t.Errorf("GP1 input low reads %d", v)
			}
		})
	}
}

func TestPre64LayoutMisreadsDatasheetLayout(t *testing.T) {
	// Why the layout is configurable: the pre-6.4 driver reading the
	// datasheet layout sees the direction byte as the value.
	c := NewChip(LayoutValueDir)
	c.SetInput(2, false) // input (direction 1), reading low
	if v, _ := driverGet(t, c, true, 2); v != 1 {
		t.Fatalf("expected the misread value 1 (the direction byte), got %d", v)
	}
}

func TestSetReplyAndEvents(t *testing.T) {
	c := NewChip(LayoutValueDir)
	resp := c.Handle(setDir(1, Output))
	if resp[0] != CmdGPIOSet || resp[1] != statusOK {
		t.Fatalf("set reply % x", resp[:18])
	}
	for i, b := range resp[2:18] {
		if b == 0xee || b == 0xef {
			t.Fatalf("byte %d of the set reply is %#x: the driver would see a non-GPIO pin", i+2, b)
		}
	}
	if resp[8] != 1 || resp[9] != byte(Output) { // GP1 at 6: alter value, value, alter direction, direction
		t.Errorf("GP1 direction echo: % x", resp[6:10])
	}
	c.Handle(setValue(1, true))
	m := c.Mark("camera on")
	c.Handle(setValue(1, false))

	got := c.Events()
	want := []Event{
		{Seq: 1, Line: 1, SetDirection: true, Direction: Output},
		{Seq: 2, Line: 1, Level: true},
		{Seq: 3, Line: -1, Mark: "camera on"},
		{Seq: 4, Line: 1, Level: false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if m != 3 {
		t.Errorf("Mark returned %d, want 3", m)
	}
	s := c.State()
	if s.Dir[1] != Output || s.Out[1] || s.Level(1) || s.Seq != 4 || s.Reports[CmdGPIOSet] != 3 {
		t.Errorf("state %+v", s)
	}
	if got[1].String() != "#2 GP1=1" || got[0].String() != "#1 GP1 dir=out" || got[2].String() != "#3 camera on" {
		t.Errorf("String: %v", got)
	}
}

func TestLink(t *testing.T) {
	c := NewChip(LayoutValueDir)
	c.Link(1, 2)
	c.Handle(setDir(1, Output))
	c.Handle(setValue(1, true))
	if s := c.State(); !s.In[2] || !s.Level(2) {
		t.Fatalf("GP2 does not follow GP1: %+v", s)
	}
	c.Handle(setValue(1, false))
	if s := c.State(); s.In[2] {
		t.Fatal("GP2 still high")
	}
	// A value written while GP1 is an input only sets its latch.
	c.Handle(setDir(1, Input))
	c.Handle(setValue(1, true))
	if s := c.State(); s.In[2] {
		t.Fatal("GP2 follows an input's latch")
	}
	c.Link(1, -1)
	c.Handle(setDir(1, Output))
	c.Handle(setValue(1, false))
	c.Handle(setValue(1, true))
	c.SetInput(2, false)
	c.Handle(setValue(1, true))
	if s := c.State(); s.In[2] {
		t.Fatal("GP2 follows GP1 after unlinking")
	}
}

func TestWaitFor(t *testing.T) {
	c := NewChip(LayoutValueDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan State, 1)
	go func() {
		s, err := c.WaitFor(ctx, func(s State) bool { return s.Dir[0] == Output && s.Out[0] })
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	c.Handle(setDir(0, Output))
	c.Handle(setValue(0, true))
	if s := <-done; !s.Out[0] {
		t.Fatalf("WaitFor returned %+v", s)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := c.WaitFor(short, func(s State) bool { return s.In[3] }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor on a condition that never holds: %v", err)
	}
}

func TestI2CEmptyBus(t *testing.T) {
	c := NewChip(LayoutValueDir)
	// mcp_set_i2c_speed: the divider must be echoed, or the driver sees
	// EAGAIN.
	speed := make([]byte, 8)
	speed[0], speed[3], speed[4] = CmdStatus, i2cSetSpeed, 27
	r := c.Handle(speed)
	if r[1] != statusOK || r[3] != i2cSetSpeed || r[4] != 27 || r[8] != 0 || r[i2cACKStatus]&i2cNACKFlag != 0 {
		t.Fatalf("speed reply % x", r[:24])
	}
	// A write to an absent slave: accepted, then NACK in the status.
	w := []byte{CmdI2CWrite, 1, 0, 0x50 << 1, 0xaa}
	if r := c.Handle(w); r[0] != CmdI2CWrite || r[1] != statusOK {
		t.Fatalf("write reply % x", r[:4])
	}
	if r := c.Handle([]byte{CmdStatus}); r[i2cACKStatus]&i2cNACKFlag == 0 {
		t.Fatal("no NACK after a write to an empty bus")
	}
	// A read: the get-data reply reports the address NACK.
	c.Handle([]byte{CmdI2CRead, 1, 0, 0x50<<1 | 1})
	if r := c.Handle([]byte{CmdI2CGetData}); r[1] != statusOK || r[2] != i2cAddrNACK {
		t.Fatalf("get data reply % x", r[:4])
	}
	// Cancel clears the NACK.
	cancel := make([]byte, 8)
	cancel[0], cancel[2] = CmdStatus, i2cCancel
	if r := c.Handle(cancel); r[2] != i2cCancel || r[i2cACKStatus] != 0 {
		t.Fatalf("cancel reply % x", r[:24])
	}
}

func TestSRAMFlashUnknownEmpty(t *testing.T) {
	c := NewChip(LayoutValueDir)
	c.Handle(setDir(2, Output))
	c.Handle(setValue(2, true))
	r := c.Handle([]byte{CmdGetSRAM})
	if r[1] != statusOK || r[sramGPIOOffset+0] != byte(Input)<<3 || r[sramGPIOOffset+2] != 1<<4 {
		t.Fatalf("SRAM reply % x", r[sramGPIOOffset:sramGPIOOffset+4])
	}
	if r := c.Handle([]byte{CmdReadFlash, 0}); r[0] != CmdReadFlash || r[1] != statusOK {
		t.Fatalf("flash reply % x", r[:4])
	}
	if r := c.Handle([]byte{0x77}); r[0] != 0x77 || r[1] != statusFailed {
		t.Fatalf("unknown command reply % x", r[:4])
	}
	if r := c.Handle(nil); r != nil {
		t.Fatalf("empty report answered: % x", r)
	}
	if n := c.State().Reports[0x77]; n != 1 {
		t.Errorf("unknown command counted %d times", n)
	}
}

func TestLayoutForKernel(t *testing.T) {
	for rel, want := range map[string]Layout{
		"6.1.0-56-amd64":  LayoutDirValue,
		"6.3.13":          LayoutDirValue,
		"5.10.0-30-arm64": LayoutDirValue,
		"6.4.0":           LayoutValueDir,
		"6.12.48+deb13":   LayoutValueDir,
		"7.0":             LayoutValueDir,
		"garbage":         LayoutValueDir,
		"":                LayoutValueDir,
	} {
		if got := LayoutForKernel(rel); got != want {
			t.Errorf("LayoutForKernel(%q) = %v, want %v", rel, got, want)
		}
	}
}
