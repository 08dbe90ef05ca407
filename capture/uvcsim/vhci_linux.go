// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// VHCIDir is the sysfs directory of USB/IP's first virtual host controller.
const VHCIDir = "/sys/devices/platform/vhci_hcd.0"

// usbSpeedHigh is enum usb_device_speed's USB_SPEED_HIGH.
const usbSpeedHigh = 3

// Plugged is a Camera attached to the kernel through vhci_hcd.
type Plugged struct {
	Port    int
	Session *Session
	dir     string
	log     *slog.Logger
}

// Plug attaches cam to vhci_hcd (module vhci-hcd loaded) on a free
// high-speed port: the kernel then enumerates it like a camera plugged
// into a USB port and binds uvcvideo. The connection is a Unix socket
// pair (vhci only asks for a SOCK_STREAM socket); no usbipd is involved.
func Plug(cam *Camera, frames FrameSource, log *slog.Logger) (*Plugged, error) {
	return plugAt(VHCIDir, cam, frames, log)
}

func plugAt(dir string, cam *Camera, frames FrameSource, log *slog.Logger) (*Plugged, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	port, err := freePort(dir)
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("uvcsim: socketpair: %w", err)
	}
	f := os.NewFile(uintptr(fds[0]), "usbip")
	conn, err := net.FileConn(f) // a dup, served by the runtime poller: Close interrupts reads
	f.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, fmt.Errorf("uvcsim: %w", err)
	}
	cam.Reset()
	devid := 1<<16 | (port + 2)
	attach := fmt.Sprintf("%d %d %d %d", port, fds[1], devid, usbSpeedHigh)
	err = os.WriteFile(filepath.Join(dir, "attach"), []byte(attach), 0)
	unix.Close(fds[1]) // vhci holds its own reference to the socket
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("uvcsim: vhci attach %q: %w", attach, err)
	}
	log.Info("plugged", "port", port, "devid", fmt.Sprintf("%#x", devid))
	return &Plugged{Port: port, Session: Serve(conn, cam, frames, log, nil), dir: dir, log: log}, nil
}

// Unplug detaches the device as if its cable were pulled: vhci
// disconnects it (uvcvideo's open files get ENODEV) and hangs up.
func (p *Plugged) Unplug() error {
	err := os.WriteFile(filepath.Join(p.dir, "detach"), []byte(strconv.Itoa(p.Port)), 0)
	if err != nil {
		err = fmt.Errorf("uvcsim: vhci detach %d: %w", p.Port, err)
	}
	// vhci shuts the socket down; wait for that before closing our end,
	// with a deadline only to fail instead of hang.
	select {
	case <-p.Session.Done():
	case <-time.After(30 * time.Second):
		err = errors.Join(err, errors.New("uvcsim: vhci did not hang up within 30s of detach"))
	}
	p.Session.Close()
	p.log.Info("unplugged", "port", p.Port, "stats", fmt.Sprintf("%+v", p.Session.Stats()))
	return err
}

// freePort returns the first high-speed vhci port whose status is
// VDEV_ST_NULL (4): free. A detached port becomes free again once vhci
// has torn the connection down, so this waits for one a while.
func freePort(dir string) (int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		port, err := scanFreePort(filepath.Join(dir, "status"))
		if err == nil || time.Now().After(deadline) {
			return port, err
		}
		time.Sleep(100 * time.Millisecond) // polling sysfs: no event tells a port became free
	}
}

func scanFreePort(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return -1, fmt.Errorf("uvcsim: %w (is vhci-hcd loaded?)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hub port sta spd dev      sockfd local_busid
		// hs  0000 004 000 00000000 000000 0-0
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[0] != "hs" {
			continue
		}
		port, err1 := strconv.Atoi(fs[1])
		sta, err2 := strconv.Atoi(fs[2])
		if err1 == nil && err2 == nil && sta == 4 {
			return port, nil
		}
	}
	return -1, fmt.Errorf("uvcsim: no free high-speed port in %s", path)
}
