// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"image/color"
	"testing"
	"time"
)

// TestFrameImage: every raw format gives the same picture (a test pattern
// frame converted between formats), and frames that are too short, of odd
// width in YUYV, or compressed give an error, never a panic.
func TestFrameImage(t *testing.T) {
	const w, h = 64, 48
	tp, err := NewTestPattern(SyntheticConfig{Width: w, Height: h, Pixel: I420, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	i420 := tp.Frame(3, time.Unix(1_790_000_000, 0))
	cw := w / 2
	nv12 := &Frame{Format: Format{Width: w, Height: h, Pixel: NV12}, Data: make([]byte, len(i420.Data))}
	yuyv := &Frame{Format: Format{Width: w, Height: h, Pixel: YUYV}, Data: make([]byte, 2*w*h)}
	copy(nv12.Data, i420.Data[:w*h])
	for y := range h {
		for x := range w {
			c := (y/2)*cw + x/2
			u, v := i420.Data[w*h+c], i420.Data[w*h+cw*h/2+c]
			nv12.Data[w*h+2*c], nv12.Data[w*h+2*c+1] = u, v
			yuyv.Data[y*2*w+2*x] = i420.Data[y*w+x]
			if x%2 == 0 {
				yuyv.Data[y*2*w+2*x+1], yuyv.Data[y*2*w+2*x+3] = u, v
			}
		}
	}
	want, err := FrameImage(i420)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Frame{nv12, yuyv} {
		img, err := FrameImage(f)
		if err != nil {
			t.Fatal(err)
		}
		for y := range h {
			for x := range w {
				if a, b := color.RGBAModel.Convert(img.At(x, y)), color.RGBAModel.Convert(want.At(x, y)); a != b {
					t.Fatalf("%s pixel %d,%d: %v, want %v", f.Format.Pixel, x, y, a, b)
				}
			}
		}
	}
	for _, bad := range []*Frame{
		{Format: i420.Format, Data: i420.Data[:10]},
		{Format: Format{Width: 3, Height: 2, Pixel: YUYV}, Data: make([]byte, 12)},
		{Format: Format{Width: w, Height: h, Pixel: MJPEG}, Data: make([]byte, 100)},
	} {
		if _, err := FrameImage(bad); err == nil {
			t.Errorf("%v frame of %d bytes: no error", bad.Format, len(bad.Data))
		}
	}
}
