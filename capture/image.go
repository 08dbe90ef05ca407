// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"fmt"
	"image"
)

// I420Image returns the I420 picture d of w x h pixels as an image that
// shares d.
func I420Image(d []byte, w, h int) *image.YCbCr {
	cw, ch := (w+1)/2, (h+1)/2
	return &image.YCbCr{Y: d[:w*h], Cb: d[w*h : w*h+cw*ch], Cr: d[w*h+cw*ch : w*h+2*cw*ch],
		YStride: w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, w, h)}
}

// FrameImage returns a raw frame (I420, NV12 or YUYV) as an image (for
// camnode check -snapshot and the leak tests). An I420 image shares f's
// data; the others are copies.
func FrameImage(f *Frame) (image.Image, error) {
	w, h := f.Format.Width, f.Format.Height
	if n := f.Format.FrameSize(); n == 0 || len(f.Data) < n {
		return nil, fmt.Errorf("capture: %v frame of %d bytes", f.Format, len(f.Data))
	}
	d := f.Data
	cw, ch := (w+1)/2, (h+1)/2
	switch f.Format.Pixel {
	case I420:
		return I420Image(d, w, h), nil
	case NV12:
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		copy(img.Y, d[:w*h])
		for i := range cw * ch {
			img.Cb[i], img.Cr[i] = d[w*h+2*i], d[w*h+2*i+1]
		}
		return img, nil
	case YUYV:
		if w%2 != 0 {
			return nil, fmt.Errorf("capture: YUYV frame of odd width %d", w)
		}
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio422)
		for y := range h {
			for x := range w {
				img.Y[y*img.YStride+x] = d[y*2*w+2*x]
			}
			for c := range cw {
				img.Cb[y*img.CStride+c], img.Cr[y*img.CStride+c] = d[y*2*w+4*c+1], d[y*2*w+4*c+3]
			}
		}
		return img, nil
	}
	return nil, fmt.Errorf("capture: no image of %s", f.Format.Pixel)
}
