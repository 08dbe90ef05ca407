// SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"runtime"
	"testing"
	"time"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// nullOutput wants the stream and drops it.
type nullOutput struct{ aus, keys int }

func (o *nullOutput) WriteAU(au *AU) {
	o.aus++
	if au.Key {
		o.keys++
	}
}
func (*nullOutput) Cut()         {}
func (*nullOutput) Wanted() bool { return true }

// TestPipelineAllocs: in steady state a frame costs no allocation on its
// whole way through the pipeline (copy into the slot, MJPEG decode or YUYV
// conversion, the mask hook, x264, the fan-out), for every format a camera
// sends; before the x264 wrapper kept its output pointer in the encoder,
// every encoded frame allocated it.
func TestPipelineAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector; run without -race")
	}
	needCodecs(t)
	jpeg := readJPEG(t, "640x480-422.jpg")
	i420 := capture.Format{Width: 640, Height: 480, Pixel: capture.I420, FPSNum: 30, FPSDen: 1}
	yuyv := i420
	yuyv.Pixel = capture.YUYV
	sps, pps, idr, pslice := recordedNALs(t) // a real encoder's: the pipeline checks them
	for _, tc := range []struct {
		name  string
		frame capture.Frame
		later []byte // if set, the data of every frame after the first
	}{
		{"MJPEG", *mjpegFrame(jpeg, 0), nil},
		{"YUYV", capture.Frame{Data: make([]byte, yuyv.FrameSize()), Format: yuyv}, nil},
		{"I420", capture.Frame{Data: make([]byte, i420.FrameSize()), Format: i420}, nil},
		{"H264", *h264Frame(annexB(sps, pps, idr), 0), annexB(pslice)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &nullOutput{}
			cfg := Config{}
			if tc.frame.Format.Pixel != capture.H264 {
				// The node's real Masker: burning masks in costs no allocation either.
				cfg.Masker = capture.NewMasker([]firmware.Mask{{Rect: []float64{0.5, 0, 1, 0.4}}, {Poly: [][]float64{{0.1, 0.5}, {0.4, 0.6}, {0.2, 0.95}}}})
			}
			p := newPipeline(t, cfg, o)
			f := tc.frame
			n := 0
			frame := func() {
				f.Seq = uint64(n)
				f.Time = t0.Add(time.Duration(n) * time.Second / 30)
				if tc.later != nil && n > 0 {
					f.Data = tc.later
				}
				n++
				p.WriteFrame(&f)
				for st := p.Stats(); st.Taken+st.Replaced < uint64(n); st = p.Stats() {
					runtime.Gosched()
				}
			}
			for range 5 { // warm up: buffers grow to the frame size
				frame()
			}
			if a := testing.AllocsPerRun(50, frame); a != 0 {
				t.Errorf("%v allocations per frame, want 0", a)
			}
			if o.aus == 0 || o.keys == 0 {
				t.Fatalf("%d access units, %d keyframes reached the output", o.aus, o.keys)
			}
		})
	}
}
