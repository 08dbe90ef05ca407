// SPDX-License-Identifier: Apache-2.0

package mcp2221sim

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultPath is the uhid device node.
const DefaultPath = "/dev/uhid"

// Config configures Start.
type Config struct {
	// Layout of the GPIO get reply; zero picks LayoutForKernel of the
	// running kernel.
	Layout Layout
	// Name is the HID device name; default "Microchip MCP2221 (camnode sim)".
	Name string
	// Path is the uhid node; default DefaultPath.
	Path string
	// Logger receives the device's life cycle; nil discards.
	Logger *slog.Logger
	// LogReports is how many of the first reports to log (at debug
	// level), to time the driver's probe; later ones are not logged.
	LogReports int
}

// Device is an emulated MCP2221 attached through uhid.
type Device struct {
	chip    *Chip
	f       *os.File
	log     *slog.Logger
	logLeft int // reports still to log; owned by serve

	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	err       error // set before done is closed
}

// Start creates the uhid device and serves its reports from a goroutine
// until Close. The kernel binds hid-mcp2221 (if loaded) asynchronously: wait
// for the GPIO chip labelled "mcp2221_gpio" to appear.
func Start(cfg Config) (*Device, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.Name == "" {
		cfg.Name = "Microchip MCP2221 (camnode sim)"
	}
	if cfg.Layout == 0 {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return nil, fmt.Errorf("mcp2221sim: uname: %w", err)
		}
		cfg.Layout = LayoutForKernel(unix.ByteSliceToString(u.Release[:]))
	}
	create, err := encodeCreate2(create2{Name: cfg.Name, Phys: "camnode-mcp2221sim", Bus: busUSB,
		Vendor: VendorID, Product: ProductID, Version: 0x0100, Descriptor: reportDescriptor})
	if err != nil {
		return nil, err
	}
	// Non-blocking, so the runtime poller serves reads and Close
	// interrupts a pending one.
	fd, err := unix.Open(cfg.Path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("mcp2221sim: open %s: %w", cfg.Path, err)
	}
	f := os.NewFile(uintptr(fd), cfg.Path)
	if _, err := f.Write(create); err != nil {
		f.Close()
		return nil, fmt.Errorf("mcp2221sim: UHID_CREATE2: %w", err)
	}
	d := &Device{chip: NewChip(cfg.Layout), f: f, log: cfg.Logger, logLeft: cfg.LogReports,
		closing: make(chan struct{}), done: make(chan struct{})}
	d.log.Info("mcp2221sim: uhid device created", "vendor", fmt.Sprintf("%04x", VendorID),
		"product", fmt.Sprintf("%04x", ProductID), "get_layout", cfg.Layout)
	go d.serve()
	return d, nil
}

// Chip returns the emulated chip, to read back writes and apply inputs.
func (d *Device) Chip() *Chip { return d.chip }

// Done is closed when the device stopped serving (Close, or an error).
func (d *Device) Done() <-chan struct{} { return d.done }

// Err is the error that stopped serving, nil after a plain Close. Valid
// once Done is closed.
func (d *Device) Err() error {
	<-d.done
	return d.err
}

// Close destroys the uhid device (the kernel removes the GPIO chip) and
// waits for the serving goroutine to end.
func (d *Device) Close() error {
	var err error
	d.closeOnce.Do(func() {
		close(d.closing)
		_, werr := d.f.Write(encodeDestroy())
		err = errors.Join(werr, d.f.Close())
	})
	<-d.done
	if err != nil {
		return fmt.Errorf("mcp2221sim: close: %w", err)
	}
	return nil
}

func (d *Device) serve() {
	defer close(d.done)
	buf := make([]byte, uhidEventSize)
	for {
		n, err := d.f.Read(buf)
		if err != nil {
			select {
			case <-d.closing:
			default:
				d.err = fmt.Errorf("mcp2221sim: read: %w", err)
				d.log.Error("mcp2221sim: stopped", "err", err)
			}
			return
		}
		ev, err := decodeEvent(buf[:n])
		if err != nil {
			d.log.Warn("mcp2221sim: bad event", "err", err)
			continue
		}
		if err := d.handle(ev); err != nil {
			select {
			case <-d.closing:
			default:
				d.err = err
				d.log.Error("mcp2221sim: stopped", "err", err)
			}
			return
		}
	}
}

func (d *Device) handle(ev event) error {
	var reply []byte
	switch ev.Type {
	case uhidOutput:
		resp := d.chip.Handle(ev.Data)
		if resp == nil {
			return nil
		}
		if d.logLeft > 0 {
			d.logLeft--
			d.log.Debug("mcp2221sim: report", "request", fmt.Sprintf("% x", ev.Data[:min(len(ev.Data), 8)]),
				"reply", fmt.Sprintf("% x", resp[:12]))
		}
		var err error
		if reply, err = encodeInput2(resp); err != nil {
			return err
		}
	case uhidGetReport:
		reply = encodeReportReply(uhidGetReportReply, ev.ID, uint16(unix.EIO))
	case uhidSetReport:
		reply = encodeReportReply(uhidSetReportReply, ev.ID, uint16(unix.EIO))
	default:
		d.log.Info("mcp2221sim: "+eventName(ev.Type), "type", ev.Type)
		return nil
	}
	if _, err := d.f.Write(reply); err != nil {
		return fmt.Errorf("mcp2221sim: write reply to %s: %w", eventName(ev.Type), err)
	}
	return nil
}
