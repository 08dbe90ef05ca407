// SPDX-License-Identifier: Apache-2.0

// Package vmguest holds what the capture tests that run inside the QEMU
// guests (scripts/vm-test: capture/vmtest on vivid, capture/uvcsim/vmtest
// on the emulated webcam) share: the guard that skips them elsewhere, a
// logger, a Sink that records every frame, and one bounded Stream call.
package vmguest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/capture"
)

// Guest skips the test outside the test VM.
func Guest(t *testing.T) {
	t.Helper()
	if os.Getenv("CAMNODE_VM") != "1" {
		t.Skip("not in the test VM (scripts/vm-test)")
	}
}

// Logger logs to the test's output at debug level.
func Logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// StreamDeadline bounds one Stream call in the guest: generous, because
// the guest runs under TCG emulation on a loaded machine. It is there to
// fail instead of hang, never to measure anything.
const StreamDeadline = 60 * time.Second

// Collector is a Sink that records every frame and cancels the stream
// after N. Read its fields once Stream returned.
type Collector struct {
	N        int
	Cancel   context.CancelFunc            // set by Stream unless already set
	OnFrame  func(i int, f *capture.Frame) // optional, per frame (i counts from 1)
	KeepData bool                          // keep a copy of every frame's bytes

	mu      sync.Mutex
	Format  capture.Format
	Starts  int // Started calls
	Seqs    []uint64
	Dropped []uint64
	Sizes   []int
	Times   []time.Time
	Data    [][]byte // with KeepData
}

// Started implements capture.Sink.
func (c *Collector) Started(f capture.Format) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Format, c.Starts = f, c.Starts+1
}

// Frame implements capture.Sink.
func (c *Collector) Frame(f *capture.Frame) {
	c.mu.Lock()
	c.Seqs = append(c.Seqs, f.Seq)
	c.Dropped = append(c.Dropped, f.Dropped)
	c.Sizes = append(c.Sizes, len(f.Data))
	c.Times = append(c.Times, f.Time)
	if c.KeepData {
		c.Data = append(c.Data, bytes.Clone(f.Data))
	}
	i := len(c.Seqs)
	c.mu.Unlock()
	if c.OnFrame != nil {
		c.OnFrame(i, f)
	}
	if i == c.N && c.Cancel != nil {
		c.Cancel()
	}
}

// Frames returns how many frames arrived.
func (c *Collector) Frames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.Seqs)
}

// Stream opens cfg's device with camnode's V4L2 source and streams into c
// until c has N frames, the stream ends, or timeout passes (an error, not
// a measurement).
func Stream(t *testing.T, cfg capture.V4L2Config, c *Collector, timeout time.Duration) error {
	t.Helper()
	cfg.Logger = Logger(t)
	v, err := capture.NewV4L2(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if c.Cancel == nil {
		c.Cancel = cancel
	}
	err = v.Stream(ctx, c)
	if ctx.Err() == context.DeadlineExceeded {
		t.Errorf("stream timed out after %v with %d frames", timeout, c.Frames())
	}
	return err
}
