// SPDX-License-Identifier: Apache-2.0

// Package firmwaretest holds test helpers for the files a node reads: the
// hostile paths every reader must refuse (firmware.ReadFile's contract),
// a deadline that turns a hang into a failure, and a log buffer safe for
// concurrent writers.
package firmwaretest

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Hostile path kinds, the keys of HostilePaths' map.
const (
	FIFO      = "FIFO"
	DevZero   = "/dev/zero"
	DevRandom = "/dev/urandom"
	DevNull   = "/dev/null"
	Directory = "directory"
)

// HostilePaths makes, in a new directory below dir, one path of each kind
// that a node must refuse where it expects a regular file: a FIFO (an open
// or a read would block for ever), symbolic links to /dev/zero and
// /dev/urandom (endless reads), to /dev/null (a write that vanishes), and a
// directory. The map is keyed by kind; each file name ends in suffix.
func HostilePaths(t testing.TB, dir, suffix string) map[string]string {
	t.Helper()
	d, err := os.MkdirTemp(dir, "hostile")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{Directory: filepath.Join(d, "dir"+suffix)}
	if err := os.Mkdir(paths[Directory], 0o700); err != nil {
		t.Fatal(err)
	}
	paths[FIFO] = filepath.Join(d, "fifo"+suffix)
	if err := syscall.Mkfifo(paths[FIFO], 0o600); err != nil {
		t.Fatal(err)
	}
	for kind, name := range map[string]string{DevZero: "zero", DevRandom: "urandom", DevNull: "null"} {
		paths[kind] = filepath.Join(d, name+suffix)
		if err := os.Symlink(kind, paths[kind]); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// HangDeadline is how long NoHang waits: far longer than any reader needs
// on the busiest machine; it exists only to fail instead of hanging.
const HangDeadline = 30 * time.Second

// NoHang runs f and returns its result; if f has not returned within
// HangDeadline the test fails (a regression to a blocking read then shows
// as a failure naming what, not as a suite that never ends). It is not a
// timing assertion.
func NoHang[T any](t testing.TB, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(HangDeadline):
		t.Fatalf("%s hangs", what)
		panic("unreachable")
	}
}

// SyncBuffer is a bytes.Buffer that several goroutines (a logger, a child
// process's output copier) may write while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset discards everything written so far.
func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
