// SPDX-License-Identifier: Apache-2.0

//go:build integration

package pipeline

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/capture/capturetest"
)

// encodeLeakScene runs n pictures of the leak scene in format p through a
// pipeline with masker (nil: none) and returns the H.264 stream its
// outputs got, decoded by ffmpeg into I420 pictures.
func encodeLeakScene(t *testing.T, s capturetest.LeakScene, p capture.PixelFormat, n int, masker Masker) [][]byte {
	t.Helper()
	frames, err := s.Frames(p, n)
	if err != nil {
		t.Fatal(err)
	}
	o := newRecOutput()
	pl := newPipeline(t, Config{Masker: masker}, o)
	for i, d := range frames {
		f := &capture.Frame{Data: d, Seq: uint64(i), Time: t0,
			Format: capture.Format{Width: s.W, Height: s.H, Pixel: p, FPSNum: 30, FPSDen: 1}}
		pl.WriteFrame(f)
		waitTaken(t, pl, uint64(i+1)) // one at a time: every picture is encoded
	}
	if e := pl.Err(); e != "" {
		t.Fatalf("pipeline: %s", e)
	}
	var stream []byte
	for _, au := range o.snapshot() {
		stream = append(stream, au.Data...)
	}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "h264", "-i", "-",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg decoding %d bytes of H.264: %v\n%s", len(stream), err, stderr.Bytes())
	}
	size := s.W * s.H * 3 / 2
	if len(raw) == 0 || len(raw)%size != 0 {
		t.Fatalf("ffmpeg gave %d bytes: not whole %dx%d pictures", len(raw), s.W, s.H)
	}
	var pics [][]byte
	for i := 0; i < len(raw); i += size {
		pics = append(pics, raw[i:i+size])
	}
	return pics
}

// TestMaskLeakPipeline is the leak proof of issue 13 at the pipeline: for
// every format camnode captures (YUYV, NV12, I420 and MJPEG, decoded), a
// source paints a distinctive pattern under and around the masks (at the
// picture's edges, odd offsets and sizes, a triangle) and the stamp
// outside them; the H.264 stream every output gets, decoded by ffmpeg,
// shows the fill colour across every mask in every picture (tolerance: one
// macroblock at borders inside the picture), the pattern around them and
// the stamp intact. Without the masker the same check fails, so it can see
// a leak.
func TestMaskLeakPipeline(t *testing.T) {
	needCodecs(t)
	s := capturetest.LeakScene{W: 640, H: 480, Masks: capturetest.LeakMasks()}
	for _, p := range []capture.PixelFormat{capture.YUYV, capture.NV12, capture.I420, capture.MJPEG} {
		t.Run(string(p), func(t *testing.T) {
			pics := encodeLeakScene(t, s, p, 6, capture.NewMasker(s.Masks))
			for i, pic := range pics {
				img, err := capture.FrameImage(&capture.Frame{Data: pic, Format: capture.Format{Width: s.W, Height: s.H, Pixel: capture.I420}})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Check(img, capturetest.LeakTolerance); err != nil {
					t.Errorf("decoded picture %d of %d: %v", i, len(pics), err)
				}
			}
		})
	}
	t.Run("control: no masker", func(t *testing.T) {
		pics := encodeLeakScene(t, s, capture.I420, 2, nil)
		img, err := capture.FrameImage(&capture.Frame{Data: pics[len(pics)-1], Format: capture.Format{Width: s.W, Height: s.H, Pixel: capture.I420}})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Check(img, capturetest.LeakTolerance)
		if err == nil {
			t.Fatal("the unmasked stream passes the leak check: it cannot see a leak")
		}
		t.Logf("unmasked, as expected: %.200s", fmt.Sprint(err))
	})
}
