// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package capture

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

type nopSink struct{ started, frames int }

func (s *nopSink) Started(Format) { s.started++ }
func (s *nopSink) Frame(*Frame)   { s.frames++ }

// Without a camera on the test host, check the failure paths: errno kept,
// ErrLost only where the device is gone, no fd left open.
func TestV4L2StreamFailures(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "plain")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dev   string
		lost  bool
		errno syscall.Errno
	}{
		{"vanished node", filepath.Join(dir, "video9"), true, syscall.ENOENT},
		{"not a char device", regular, false, 0},
		{"not a V4L2 device", "/dev/null", false, syscall.ENOTTY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.dev); tt.dev == "/dev/null" && err != nil {
				t.Skip("no /dev/null")
			}
			before := countFDs(t)
			v, err := NewV4L2(V4L2Config{Device: tt.dev})
			if err != nil {
				t.Fatal(err)
			}
			var sink nopSink
			err = v.Stream(context.Background(), &sink)
			if err == nil {
				t.Fatal("Stream succeeded")
			}
			if errors.Is(err, ErrLost) != tt.lost {
				t.Errorf("errors.Is(err, ErrLost) = %v, want %v (err %v)", !tt.lost, tt.lost, err)
			}
			if tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Errorf("err %v does not carry %v", err, tt.errno)
			}
			if sink.started != 0 || sink.frames != 0 {
				t.Errorf("sink saw %d starts, %d frames", sink.started, sink.frames)
			}
			if after := countFDs(t); after != before {
				t.Errorf("fds: %d before, %d after", before, after)
			}
		})
	}
}

func TestV4L2CancelledBeforeOpen(t *testing.T) {
	v, err := NewV4L2(V4L2Config{Device: "/nonexistent/video0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := v.Stream(ctx, &nopSink{}); err != nil {
		t.Errorf("Stream after cancel = %v, want nil (never opens)", err)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}
