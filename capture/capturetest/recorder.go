// SPDX-License-Identifier: Apache-2.0

// Package capturetest provides helpers for testing code that uses package
// capture.
package capturetest

import (
	"fmt"
	"sync"

	"github.com/camnode/camnode/capture"
)

// Recorder is a capture.Sink that records what it is given: how many times
// Started was called and with which format, how many frames arrived and the
// Seq of the last one. It also checks the Sink contract (Started before the
// first frame of each stream, contiguous Seq from 0, raw frames of
// Format.FrameSize() bytes) and reports the first violation from Err.
//
// The zero value is ready to use. Its reading methods are safe to call
// concurrently with a running stream.
type Recorder struct {
	mu      sync.Mutex
	starts  int
	format  capture.Format
	frames  int // in all streams
	inRun   int // in the current stream
	lastSeq uint64
	err     error
	first   chan struct{}
}

// Started implements capture.Sink.
func (r *Recorder) Started(f capture.Format) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	r.format = f
	r.inRun = 0
}

// Frame implements capture.Sink. It does not retain f.
func (r *Recorder) Frame(f *capture.Frame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.err != nil:
	case r.starts == 0:
		r.err = fmt.Errorf("capturetest: frame %d before Started", f.Seq)
	case f.Seq != uint64(r.inRun):
		r.err = fmt.Errorf("capturetest: frame %d of stream %d has Seq %d", r.inRun, r.starts, f.Seq)
	case r.format.FrameSize() != 0 && len(f.Data) != r.format.FrameSize():
		r.err = fmt.Errorf("capturetest: frame %d has %d bytes, want %d for %v",
			f.Seq, len(f.Data), r.format.FrameSize(), r.format)
	}
	r.frames++
	r.inRun++
	r.lastSeq = f.Seq
	if r.frames == 1 {
		close(r.firstLocked())
	}
}

// FirstFrame returns a channel that is closed when the first frame arrives.
func (r *Recorder) FirstFrame() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstLocked()
}

func (r *Recorder) firstLocked() chan struct{} {
	if r.first == nil {
		r.first = make(chan struct{})
	}
	return r.first
}

// Starts returns how many times Started was called.
func (r *Recorder) Starts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}

// Format returns the format of the last Started call.
func (r *Recorder) Format() capture.Format {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.format
}

// Frames returns how many frames arrived, over all streams.
func (r *Recorder) Frames() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames
}

// LastSeq returns the Seq of the last frame, and false if no frame arrived.
func (r *Recorder) LastSeq() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastSeq, r.frames > 0
}

// Err returns the first violation of the Sink contract seen, or nil.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
