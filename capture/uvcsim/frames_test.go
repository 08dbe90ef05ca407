// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camnode/camnode/capture"
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

// TestCorruptFrames: every kind of damage the emulated webcam can serve
// makes capture's decoder refuse the frame as corrupt (so that the VM case
// proves the node counts them), while the intact frame decodes to its
// stamp; Pictures serves every n-th MJPEG frame damaged, the kinds in turn,
// and never changes the recorded frames.
func TestCorruptFrames(t *testing.T) {
	js, err := LoadJPEGs(jpegDir)
	if err != nil {
		t.Fatal(err)
	}
	s := Size{640, 480}
	if capture.HaveJPEGDecoder {
		d, err := capture.NewJPEGDecoder()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var pic capture.Frame
		for i, j := range js[s] {
			for c := range numCorruptions {
				if err := d.Decode(Corrupt(j, c), &pic); !errors.Is(err, capture.ErrCorruptJPEG) {
					t.Errorf("frame %d %s: %v, want ErrCorruptJPEG", i, c, err)
				}
			}
			if err := d.Decode(j, &pic); err != nil {
				t.Fatalf("frame %d intact: %v", i, err)
			}
			if n, _, ok := capture.ReadFrameStamp(&pic); !ok || n != uint32(i) {
				t.Errorf("frame %d intact: stamp %d %v", i, n, ok)
			}
		}
	}
	orig := bytes.Clone(js[s][0])
	p := &Pictures{JPEG: js}
	f := Negotiated{Pixel: capture.MJPEG, Size: s}
	p.SetCorruptEvery(3)
	var kinds []string
	for n := range uint64(12) {
		b := p.Frame(f, n, time.Time{})
		intact := bytes.Equal(b, js[s][n%uint64(len(js[s]))])
		if intact != (n%3 != 2) {
			t.Errorf("frame %d: intact %v", n, intact)
		}
		if !intact {
			for c := range numCorruptions {
				if bytes.Equal(b, Corrupt(js[s][n%uint64(len(js[s]))], c)) {
					kinds = append(kinds, c.String())
				}
			}
		}
	}
	if want := []string{"truncated", "garbled", "no EOI", "truncated"}; !slices.Equal(kinds, want) {
		t.Errorf("damage served %v, want %v", kinds, want)
	}
	if p.CorruptSent() != 4 || !bytes.Equal(orig, js[s][0]) {
		t.Errorf("CorruptSent %d (want 4); recorded frame changed: %v", p.CorruptSent(), !bytes.Equal(orig, js[s][0]))
	}
	p.SetCorruptEvery(0)
	if b := p.Frame(f, 2, time.Time{}); !bytes.Equal(b, js[s][2]) {
		t.Error("SetCorruptEvery(0) still serves a damaged frame")
	}
}
