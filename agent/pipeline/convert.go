// SPDX-License-Identifier: Apache-2.0

package pipeline

import "github.com/camnode/camnode/capture"

// yuyvToI420 converts a packed YUYV picture into dst as I420, reusing
// dst.Data when it is large enough. Chroma takes the even rows.
func yuyvToI420(dst *capture.Frame, src []byte, w, h int) {
	cw, ch := (w+1)/2, (h+1)/2
	n := w*h + 2*cw*ch
	if cap(dst.Data) < n {
		dst.Data = make([]byte, n)
	}
	dst.Data = dst.Data[:n]
	dst.Format.Width, dst.Format.Height, dst.Format.Pixel = w, h, capture.I420
	y, u, v := dst.Data[:w*h], dst.Data[w*h:w*h+cw*ch], dst.Data[w*h+cw*ch:]
	for r := range h {
		row := src[r*2*w : (r+1)*2*w]
		for c := range w {
			y[r*w+c] = row[2*c]
		}
		if r%2 == 0 {
			for c := 0; c < w/2; c++ {
				u[(r/2)*cw+c] = row[4*c+1]
				v[(r/2)*cw+c] = row[4*c+3]
			}
		}
	}
}
