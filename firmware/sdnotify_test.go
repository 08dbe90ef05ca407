// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// listenNotify makes a real unixgram socket in a temp dir, as systemd's
// $NOTIFY_SOCKET, and returns its path and a function reading one message.
func listenNotify(t *testing.T) (string, func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, func() string {
		t.Helper()
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading notification: %v", err)
		}
		return string(buf[:n])
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestNewNotifier(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		enabled  bool
		interval time.Duration
		err      string // substring naming the variable; "" means ok
	}{
		{"not under systemd", nil, false, 0, ""},
		{"socket, no watchdog", map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify"}, true, 0, ""},
		{"abstract socket", map[string]string{"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify"}, true, 0, ""},
		{"watchdog 10s pings every 5s", map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "10000000"}, true, 5 * time.Second, ""},
		{"watchdog for this pid", map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}, true, time.Second, ""},
		{"watchdog for another pid", map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "7"}, true, 0, ""},
		{"watchdog without socket", map[string]string{"WATCHDOG_USEC": "2000000"}, false, 0, ""},
		{"relative socket", map[string]string{"NOTIFY_SOCKET": "notify"}, false, 0, "NOTIFY_SOCKET"},
		{"bad usec", map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "10s"}, false, 0, "WATCHDOG_USEC"},
		{"zero usec", map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "0"}, false, 0, "WATCHDOG_USEC"},
		{"negative usec", map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "-1"}, false, 0, "WATCHDOG_USEC"},
		{"bad pid", map[string]string{"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}, false, 0, "WATCHDOG_PID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNotifier(env(tc.env), 42)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Enabled() != tc.enabled || n.WatchdogInterval() != tc.interval {
				t.Fatalf("enabled %v interval %v, want %v %v", n.Enabled(), n.WatchdogInterval(), tc.enabled, tc.interval)
			}
		})
	}
}

func TestNotifyDisabledIsNoop(t *testing.T) {
	var nilN *Notifier
	for _, n := range []*Notifier{nilN, {}} {
		if err := n.Ready(); err != nil {
			t.Fatal(err)
		}
		if err := n.Watchdog(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		if err := n.RunWatchdog(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNotifyReadyWatchdogStopping(t *testing.T) {
	sock, read := listenNotify(t)
	n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "4000000"}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}

	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Watchdog(ctx, ticks) }()
	for i := range 3 {
		ticks <- time.Time{}
		if got := read(); got != "WATCHDOG=1" {
			t.Fatalf("tick %d: got %q, want WATCHDOG=1", i, got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watchdog: %v", err)
	}

	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "STOPPING=1" {
		t.Fatalf("got %q, want STOPPING=1", got)
	}
}

func TestNotifyNoListenerIsAnError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "gone.sock")
	n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "1000000"}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err == nil || !strings.Contains(err.Error(), "READY=1") {
		t.Fatalf("Ready to a missing socket: %v, want an error naming the message", err)
	}
	ticks := make(chan time.Time, 1)
	ticks <- time.Time{}
	if err := n.Watchdog(t.Context(), ticks); err == nil {
		t.Fatal("Watchdog to a missing socket returned nil")
	}
}

// TestRunWatchdogPingsAtHalfInterval checks the real ticker under a fake
// clock: WatchdogSec=10s means a ping every 5s.
func TestRunWatchdogPingsAtHalfInterval(t *testing.T) {
	sock, read := listenNotify(t)
	synctest.Test(t, func(t *testing.T) {
		n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": strconv.Itoa(10_000_000)}), 1)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- n.RunWatchdog(ctx) }()
		for i := 1; i <= 3; i++ {
			time.Sleep(5*time.Second + time.Millisecond) // fake time
			synctest.Wait()
			if got := read(); got != "WATCHDOG=1" {
				t.Fatalf("ping %d: %q", i, got)
			}
		}
		if el := time.Since(start); el < 15*time.Second || el > 16*time.Second {
			t.Fatalf("3 pings took %v of fake time", el)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
