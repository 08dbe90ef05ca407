// SPDX-License-Identifier: Apache-2.0

package capturetest

import (
	"testing"

	"github.com/camnode/camnode/capture"
)

// TestLeakScene: the leak scene's pictures, in every format camnode
// captures, pass Check once the node's Masker has burned the masks in, and
// fail it without (the check sees the pattern under the masks). MJPEG is
// decoded as the pipeline does, then masked.
func TestLeakScene(t *testing.T) {
	s := LeakScene{W: 640, H: 480, Masks: LeakMasks()}
	for _, p := range []capture.PixelFormat{capture.YUYV, capture.NV12, capture.I420, capture.MJPEG} {
		t.Run(string(p), func(t *testing.T) {
			frames, err := s.Frames(p, 2)
			if err != nil {
				t.Fatal(err)
			}
			f := &capture.Frame{Data: frames[1], Format: capture.Format{Width: s.W, Height: s.H, Pixel: p}}
			if p == capture.MJPEG {
				if !capture.HaveJPEGDecoder {
					t.Skip("no JPEG decoder in this build")
				}
				d, err := capture.NewJPEGDecoder()
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				var pic capture.Frame
				if err := d.Decode(frames[1], &pic); err != nil {
					t.Fatal(err)
				}
				f = &pic
			}
			img, err := capture.FrameImage(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(img, 0); err == nil {
				t.Fatal("an unmasked picture passes the leak check")
			}
			if err := capture.NewMasker(s.Masks).Apply(f); err != nil {
				t.Fatal(err)
			}
			if img, err = capture.FrameImage(f); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(img, 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}
