// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"path/filepath"
	"testing"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// corruptSink is a frame sink that reports corrupt frames, as the pipeline
// does.
type corruptSink struct{ n uint64 }

func (*corruptSink) WriteFrame(*capture.Frame) {}
func (*corruptSink) Cut()                      {}
func (c *corruptSink) CorruptFrames() uint64   { return c.n }

// TestStatusFrameCounters: the status reports the frames the camera
// dropped, summed over streams (capture.Frame.Dropped counts per stream),
// whether or not the gate was open, and the frames a sink skipped as
// corrupt.
func TestStatusFrameCounters(t *testing.T) {
	cs := &corruptSink{n: 3}
	a, err := New(Config{StatePath: filepath.Join(t.TempDir(), "privacy.json")},
		Deps{LED: &gpiotest.LED{}, Shutter: &gpiotest.Shutter{}, Sinks: []FrameSink{cs}})
	if err != nil {
		t.Fatal(err)
	}
	s := session{a: a, gen: 1}
	// The loop is not running: Started's event has room in the queue.
	s.Started(capture.Format{})
	s.Frame(&capture.Frame{Seq: 0})
	s.Frame(&capture.Frame{Seq: 3, Dropped: 2})
	s.Frame(&capture.Frame{Seq: 5, Dropped: 3})
	if st := a.Status(); st.CameraDropped != 3 || st.CorruptFrames != 3 || st.Frames != 0 {
		t.Fatalf("status: camera_dropped %d, corrupt_frames %d, frames %d; want 3, 3, 0 (gate closed)",
			st.CameraDropped, st.CorruptFrames, st.Frames)
	}
	// A new stream counts its drops from 0 again.
	s = session{a: a, gen: 2}
	s.Started(capture.Format{})
	s.Frame(&capture.Frame{Seq: 0})
	s.Frame(&capture.Frame{Seq: 2, Dropped: 1})
	cs.n = 4
	if st := a.Status(); st.CameraDropped != 4 || st.CorruptFrames != 4 {
		t.Fatalf("after a second stream: camera_dropped %d, corrupt_frames %d; want 4, 4", st.CameraDropped, st.CorruptFrames)
	}
}
