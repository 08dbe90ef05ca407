// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package capture

import (
	"math/rand/v2"
	"testing"
)

// TestChroma422To420 checks the sixteen-bytes-at-a-time row averaging against
// the plain per-byte mean, on widths that exercise the tail loop and on odd
// row counts (the last row copied).
func TestChroma422To420(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, cw := range []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 320, 641} {
		for _, rows := range []int{1, 2, 3, 480, 481} {
			src := make([]byte, cw*rows)
			for i := range src {
				src[i] = byte(r.UintN(256))
			}
			// Extremes, where a carry between bytes would show.
			if cw >= 3 && rows >= 2 {
				src[0], src[cw] = 255, 255
				src[1], src[cw+1] = 255, 0
				src[2], src[cw+2] = 0, 1
			}
			dst := make([]byte, cw*((rows+1)/2))
			chroma422To420(dst, src, cw, rows)
			for y := range (rows + 1) / 2 {
				for x := range cw {
					a := int(src[2*y*cw+x])
					b := a
					if 2*y+1 < rows {
						b = int(src[(2*y+1)*cw+x])
					}
					if want := byte((a + b + 1) / 2); dst[y*cw+x] != want {
						t.Fatalf("cw %d rows %d: (%d,%d) = %d, want %d", cw, rows, x, y, dst[y*cw+x], want)
					}
				}
			}
		}
	}
}
