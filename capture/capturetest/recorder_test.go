// SPDX-License-Identifier: Apache-2.0

package capturetest

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camnode/camnode/capture"
)

func TestRecorder(t *testing.T) {
	var _ capture.Sink = (*Recorder)(nil)

	vga := capture.Format{Width: 640, Height: 480, Pixel: capture.I420, FPSNum: 30, FPSDen: 1}
	raw := func(seq uint64) *capture.Frame {
		return &capture.Frame{Seq: seq, Data: make([]byte, vga.FrameSize()), Format: vga}
	}
	// A call is either Started (frame == nil) or Frame.
	type call struct{ frame *capture.Frame }
	start := call{}
	tests := []struct {
		name    string
		calls   []call
		starts  int
		frames  int
		lastSeq uint64
		wantErr bool
	}{
		{"nothing", nil, 0, 0, 0, false},
		{"started only", []call{start}, 1, 0, 0, false},
		{"three frames", []call{start, {raw(0)}, {raw(1)}, {raw(2)}}, 1, 3, 2, false},
		{"two streams", []call{start, {raw(0)}, {raw(1)}, start, {raw(0)}}, 2, 3, 0, false},
		{"frame before Started", []call{{raw(0)}}, 0, 1, 0, true},
		{"Seq gap", []call{start, {raw(0)}, {raw(2)}}, 1, 2, 2, true},
		{"Seq not from 0", []call{start, {raw(1)}}, 1, 1, 1, true},
		{"wrong size", []call{start, {&capture.Frame{Seq: 0, Data: make([]byte, 10)}}}, 1, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Recorder
			first := r.FirstFrame()
			for _, c := range tt.calls {
				if c.frame == nil {
					r.Started(vga)
				} else {
					r.Frame(c.frame)
				}
			}
			seq, any := r.LastSeq()
			if r.Starts() != tt.starts || r.Frames() != tt.frames || seq != tt.lastSeq || any != (tt.frames > 0) {
				t.Errorf("Starts, Frames, LastSeq = %d, %d, %d %v; want %d, %d, %d %v",
					r.Starts(), r.Frames(), seq, any, tt.starts, tt.frames, tt.lastSeq, tt.frames > 0)
			}
			if (r.Err() != nil) != tt.wantErr {
				t.Errorf("Err() = %v, want error: %v", r.Err(), tt.wantErr)
			}
			if tt.starts > 0 && r.Format() != vga {
				t.Errorf("Format() = %v, want %v", r.Format(), vga)
			}
			select {
			case <-first:
				if tt.frames == 0 {
					t.Error("FirstFrame closed without a frame")
				}
			default:
				if tt.frames > 0 {
					t.Error("FirstFrame not closed after a frame")
				}
			}
		})
	}
}

func TestRecorderWithSynthetic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 320, Height: 240, Pixel: capture.YUYV, FPS: 10})
		if err != nil {
			t.Fatal(err)
		}
		var r Recorder
		// One second of fake time: ten frames.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second+50*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- src.Stream(ctx, &r) }()

		// Poll from this goroutine while the stream runs (checked by -race).
		<-r.FirstFrame()
		poll := time.NewTicker(30 * time.Millisecond)
		defer poll.Stop()
		last := 0
	loop:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				break loop
			case <-poll.C:
				n := r.Frames()
				if seq, ok := r.LastSeq(); n < last || !ok || seq != uint64(n-1) {
					t.Fatalf("Frames, LastSeq = %d, %d %v after %d frames", n, seq, ok, last)
				}
				last = n
			}
		}
		if seq, ok := r.LastSeq(); !ok || r.Frames() != 10 || seq != 9 {
			t.Errorf("Frames, LastSeq = %d, %d %v; want 10, 9 true", r.Frames(), seq, ok)
		}
		if r.Starts() != 1 || r.Format() != src.Format() || r.Err() != nil {
			t.Errorf("Starts, Format, Err = %d, %v, %v; want 1, %v, nil", r.Starts(), r.Format(), r.Err(), src.Format())
		}
	})
}
