// SPDX-License-Identifier: Apache-2.0

package firmware

// This file exists because camnode.service is Type=notify with WatchdogSec:
// systemd only considers the agent started once it says READY=1, and kills
// and restarts it (ExecStopPost then forces the outputs safe) when the
// WATCHDOG=1 pings stop. It is a tiny sd_notify(3) client, a datagram to
// $NOTIFY_SOCKET, so the agent needs neither libsystemd nor cgo.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier sends sd_notify messages to the service manager. The zero value
// and a nil *Notifier are valid and send nothing: that is the agent run
// outside systemd.
type Notifier struct {
	socket   string        // $NOTIFY_SOCKET, "" when not under systemd
	watchdog time.Duration // $WATCHDOG_USEC, 0 when not enabled for us
}

// NewNotifier reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID through
// getenv (os.Getenv in production) for the process pid (os.Getpid()). A
// malformed variable is an error naming it.
func NewNotifier(getenv func(string) string, pid int) (*Notifier, error) {
	n := &Notifier{socket: getenv("NOTIFY_SOCKET")}
	switch {
	case n.socket == "":
	case strings.HasPrefix(n.socket, "/"), strings.HasPrefix(n.socket, "@"):
	default:
		return nil, fmt.Errorf("NOTIFY_SOCKET: %q is not an absolute path or an abstract socket name", n.socket)
	}
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return n, nil
	}
	v, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || v == 0 {
		return nil, fmt.Errorf("WATCHDOG_USEC: %q is not a positive number of microseconds", usec)
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		wp, err := strconv.Atoi(p)
		if err != nil || wp <= 0 {
			return nil, fmt.Errorf("WATCHDOG_PID: %q is not a process id", p)
		}
		if wp != pid {
			return n, nil // the watchdog is meant for another process
		}
	}
	n.watchdog = time.Duration(v) * time.Microsecond
	return n, nil
}

// Enabled reports whether the process runs under a service manager that
// listens for notifications.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// WatchdogInterval is how often to send WATCHDOG=1: half of WatchdogSec, as
// sd_watchdog_enabled(3) recommends. 0 means no watchdog.
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog / 2
}

// Notify sends one notification, such as "READY=1" or "STATUS=...". It does
// nothing when not under a service manager.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	name := n.socket
	if name[0] == '@' {
		name = "\x00" + name[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstLine(state), err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstLine(state), err)
	}
	return nil
}

// Ready tells the service manager that start-up is complete.
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Stopping tells the service manager that the agent is shutting down.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Watchdog sends WATCHDOG=1 on each tick until ctx is done, and returns nil
// then. It returns at once if there is no watchdog. ticks is normally
// time.NewTicker(n.WatchdogInterval()).C (see RunWatchdog); a failed ping is
// returned, since systemd will kill the agent soon anyway.
func (n *Notifier) Watchdog(ctx context.Context, ticks <-chan time.Time) error {
	if n.WatchdogInterval() == 0 {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			if err := n.Notify("WATCHDOG=1"); err != nil {
				return err
			}
		}
	}
}

// RunWatchdog pings at WatchdogInterval until ctx is done. On its own it
// proves that the process is alive and scheduled, not that the agent's
// owner loop is; feed Watchdog from the loop's own heartbeat for that.
func (n *Notifier) RunWatchdog(ctx context.Context) error {
	iv := n.WatchdogInterval()
	if iv == 0 {
		return nil
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	return n.Watchdog(ctx, t.C)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
