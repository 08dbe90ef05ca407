// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"os"
	"path/filepath"
	"testing"
)

// jpegCases feed TestJPEGSize and FuzzJPEGSize's seeds.
var jpegCases = []struct {
	name string
	b    []byte
	w, h int
	ok   bool
}{
	{"empty", nil, 0, 0, false},
	{"SOI only", []byte{0xff, 0xd8}, 0, 0, false},
	{"no EOI", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 8, 8, 0, 2, 0, 4, 1, 0xff, 0xda}, 0, 0, false},
	{"SOF0 4x2", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 8, 8, 0, 2, 0, 4, 1, 0xff, 0xd9}, 4, 2, true},
	{"fill bytes then SOF2", []byte{0xff, 0xd8, 0xff, 0xff, 0xc2, 0, 8, 8, 0, 16, 0, 32, 1, 0xff, 0xd9}, 32, 16, true},
	{"short SOF", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 4, 8, 0, 0xff, 0xd9}, 0, 0, false},
	{"segment past the end", []byte{0xff, 0xd8, 0xff, 0xe0, 0x40, 0, 0xff, 0xd9}, 0, 0, false},
	{"scan before the frame header", []byte{0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9}, 0, 0, false},
	{"no marker", []byte{0xff, 0xd8, 0x00, 0x00, 0xff, 0xd9}, 0, 0, false},
}

func TestJPEGSize(t *testing.T) {
	for _, c := range jpegCases {
		w, h, err := JPEGSize(c.b)
		if (err == nil) != c.ok || w != c.w || h != c.h {
			t.Errorf("%s: %dx%d, %v; want %dx%d ok=%v", c.name, w, h, err, c.w, c.h, c.ok)
		}
	}
}

func FuzzJPEGSize(f *testing.F) {
	for _, c := range jpegCases {
		f.Add(c.b)
	}
	if ms, _ := filepath.Glob(filepath.Join(jpegDir, "*.jpg")); len(ms) > 0 {
		if b, err := os.ReadFile(ms[0]); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, h, err := JPEGSize(b)
		if err == nil && (w < 0 || h < 0 || w > 65535 || h > 65535) {
			t.Fatalf("%dx%d", w, h)
		}
	})
}
