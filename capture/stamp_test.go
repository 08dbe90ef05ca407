// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// stampCase is one frame to stamp. The same table drives the round-trip
// and noise tests and seeds FuzzReadStamp.
type stampCase struct {
	name    string
	w, h    int
	pixel   PixelFormat
	counter uint32
	t       time.Time
}

func stampCases() []stampCase {
	t0 := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	return []stampCase{
		{"min I420", StampWidth, StampHeight, I420, 0, t0},
		{"min NV12", StampWidth, StampHeight, NV12, 1, t0},
		{"min YUYV", StampWidth, StampHeight, YUYV, 2, t0},
		{"odd NV12", StampWidth + 1, StampHeight + 1, NV12, 12345, t0},
		{"odd I420", 641, 97, I420, 1 << 31, t0},
		{"VGA I420", 640, 480, I420, 0xFFFFFFFF, t0},
		{"VGA YUYV", 640, 480, YUYV, 0xDEADBEEF, time.Unix(0, 0)},
		{"720p NV12", 1280, 720, NV12, 7, time.UnixMicro(-1)},
		{"720p YUYV", 1280, 720, YUYV, 30 * 3600, time.UnixMicro(1<<62 + 12345)},
		{"1080p I420", 1920, 1080, I420, 42, t0.Add(100 * 365 * 24 * time.Hour)},
	}
}

// newFrame returns a frame of tc's size filled with deterministic noise.
func (tc stampCase) newFrame() *Frame {
	f := Format{Width: tc.w, Height: tc.h, Pixel: tc.pixel}
	data := make([]byte, f.FrameSize())
	rng := rand.New(rand.NewPCG(uint64(tc.w), uint64(tc.h)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return &Frame{Data: data, Format: f}
}

// lumaPlane returns a copy of the luma plane of f, width bytes per row.
func lumaPlane(f *Frame) []byte {
	w, h := f.Format.Width, f.Format.Height
	if f.Format.Pixel != YUYV {
		return bytes.Clone(f.Data[:w*h])
	}
	y := make([]byte, w*h)
	for i := range y {
		y[i] = f.Data[2*i]
	}
	return y
}

// inBand reports whether byte i of a frame of format f lies in the area
// Stamp may paint: the luma band and the chroma under it.
func inBand(f Format, i int) bool {
	w, h := f.Width, f.Height
	cw, ch := (w+1)/2, (h+1)/2
	switch f.Pixel {
	case YUYV:
		return i/(2*w) < StampHeight && i%(2*w) < 2*StampWidth
	case I420:
		switch {
		case i < w*h:
			return i/w < StampHeight && i%w < StampWidth
		case i < w*h+cw*ch:
			i -= w * h
		default:
			i -= w*h + cw*ch
		}
		return i/cw < StampHeight/2 && i%cw < StampWidth/2
	case NV12:
		if i < w*h {
			return i/w < StampHeight && i%w < StampWidth
		}
		i -= w * h
		return i/(2*cw) < StampHeight/2 && i%(2*cw) < StampWidth
	}
	return false
}

func TestStampRoundTrip(t *testing.T) {
	for _, tc := range stampCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.newFrame()
			before := bytes.Clone(f.Data)
			Stamp(f, tc.counter, tc.t)
			want := time.UnixMicro(tc.t.UnixMicro())

			check := func(how string) func(uint32, time.Time, bool) {
				return func(counter uint32, got time.Time, ok bool) {
					t.Helper()
					if !ok || counter != tc.counter || !got.Equal(want) {
						t.Errorf("%s = %d, %v, %v; want %d, %v, true", how, counter, got, ok, tc.counter, want)
					}
				}
			}
			check("ReadFrameStamp")(ReadFrameStamp(f))
			check("ReadStamp(luma)")(ReadStamp(lumaPlane(f), tc.w, tc.w, tc.h))
			if tc.pixel != YUYV {
				// A padded stride works too.
				stride := tc.w + 64
				padded := make([]byte, stride*tc.h)
				for y := range tc.h {
					copy(padded[y*stride:], f.Data[y*tc.w:(y+1)*tc.w])
				}
				check("ReadStamp(padded)")(ReadStamp(padded, stride, tc.w, tc.h))
			}

			changed := 0
			for i := range f.Data {
				if f.Data[i] != before[i] {
					changed++
					if !inBand(f.Format, i) {
						t.Fatalf("Stamp changed byte %d outside the band", i)
					}
				}
			}
			if changed == 0 {
				t.Fatal("Stamp changed nothing")
			}
		})
	}
}

func TestStampNoise(t *testing.T) {
	// ±40 is the specified tolerance, where every pixel of a block still
	// reads right on its own; ±150 flips single pixels and is absorbed only
	// by averaging the block centre.
	for _, amp := range []int{40, 150} {
		for _, tc := range stampCases() {
			t.Run(fmt.Sprintf("±%d %s", amp, tc.name), func(t *testing.T) {
				f := tc.newFrame()
				Stamp(f, tc.counter, tc.t)
				rng := rand.New(rand.NewPCG(uint64(amp), uint64(tc.counter)))
				for i, v := range f.Data {
					f.Data[i] = byte(min(255, max(0, int(v)+rng.IntN(2*amp+1)-amp)))
				}
				counter, got, ok := ReadFrameStamp(f)
				if want := time.UnixMicro(tc.t.UnixMicro()); !ok || counter != tc.counter || !got.Equal(want) {
					t.Errorf("ReadFrameStamp = %d, %v, %v; want %d, %v, true", counter, got, ok, tc.counter, want)
				}
			})
		}
	}
}

// flipBlock inverts the bit of one stamp block in a luma plane.
func flipBlock(y []byte, stride, slot int) {
	bx := (slot % StampCols) * StampBlock
	by := (slot / StampCols) * StampBlock
	v := byte(StampWhite)
	if y[(by+StampBlock/2)*stride+bx+StampBlock/2] >= StampThreshold {
		v = StampBlack
	}
	for yy := by; yy < by+StampBlock; yy++ {
		fill(y[yy*stride+bx:yy*stride+bx+StampBlock], v)
	}
}

func TestReadStampRejects(t *testing.T) {
	const w, h = 640, 480
	tests := []struct {
		name   string
		mutate func(y []byte) (plane []byte, stride, width, height int)
		ok     bool
	}{
		{"intact (control)", func(y []byte) ([]byte, int, int, int) { return y, w, w, h }, true},
		{"marker first block", func(y []byte) ([]byte, int, int, int) { flipBlock(y, w, 0); return y, w, w, h }, false},
		{"marker last block", func(y []byte) ([]byte, int, int, int) { flipBlock(y, w, 15); return y, w, w, h }, false},
		{"counter bit", func(y []byte) ([]byte, int, int, int) { flipBlock(y, w, 47); return y, w, w, h }, false},
		{"time bit", func(y []byte) ([]byte, int, int, int) { flipBlock(y, w, 60); return y, w, w, h }, false},
		{"checksum bit", func(y []byte) ([]byte, int, int, int) { flipBlock(y, w, 119); return y, w, w, h }, false},
		{"all black", func(y []byte) ([]byte, int, int, int) { fill(y, StampBlack); return y, w, w, h }, false},
		{"all white", func(y []byte) ([]byte, int, int, int) { fill(y, StampWhite); return y, w, w, h }, false},
		{"mid grey", func(y []byte) ([]byte, int, int, int) { fill(y, StampThreshold); return y, w, w, h }, false},
		{"narrow", func(y []byte) ([]byte, int, int, int) { return y, w, StampWidth - 1, h }, false},
		{"short", func(y []byte) ([]byte, int, int, int) { return y, w, w, StampHeight - 1 }, false},
		{"stride below width", func(y []byte) ([]byte, int, int, int) { return y, w - 1, w, h }, false},
		{"negative stride", func(y []byte) ([]byte, int, int, int) { return y, -w, w, h }, false},
		{"truncated plane", func(y []byte) ([]byte, int, int, int) { return y[:w*h-1], w, w, h }, false},
		{"nil plane", func([]byte) ([]byte, int, int, int) { return nil, w, w, h }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := stampCase{w: w, h: h, pixel: I420}.newFrame()
			Stamp(f, 99, time.Unix(1700000000, 0))
			plane, stride, width, height := tt.mutate(f.Data[:w*h])
			if _, _, ok := ReadStamp(plane, stride, width, height); ok != tt.ok {
				t.Errorf("ReadStamp ok = %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestStampSkipsUnsupportedFrames(t *testing.T) {
	tests := []struct {
		name string
		f    Format
		n    int // len(Data); -1 means FrameSize
	}{
		{"too narrow", Format{Width: StampWidth - 2, Height: 240, Pixel: I420}, -1},
		{"too short", Format{Width: 640, Height: StampHeight - 2, Pixel: YUYV}, -1},
		{"compressed", Format{Width: 640, Height: 480, Pixel: H264}, 640 * 480},
		{"data too short", Format{Width: 640, Height: 480, Pixel: NV12}, 640 * 480},
		{"too large", Format{Width: 1 << 15, Height: StampHeight, Pixel: I420}, 1 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			if n < 0 {
				n = tt.f.FrameSize()
			}
			f := &Frame{Data: make([]byte, n), Format: tt.f}
			Stamp(f, 1, time.Unix(1, 0))
			if i := bytes.IndexFunc(f.Data, func(r rune) bool { return r != 0 }); i >= 0 {
				t.Errorf("Stamp wrote byte %d", i)
			}
			if _, _, ok := ReadFrameStamp(f); ok {
				t.Error("ReadFrameStamp ok = true")
			}
		})
	}
	Stamp(nil, 0, time.Time{}) // must not panic
	if _, _, ok := ReadFrameStamp(nil); ok {
		t.Error("ReadFrameStamp(nil) ok = true")
	}
}

func FuzzReadStamp(f *testing.F) {
	for _, tc := range stampCases() {
		fr := tc.newFrame()
		Stamp(fr, tc.counter, tc.t)
		// Keep the seeds small for the fuzzer: crop the luma plane to the
		// band, which still holds a valid stamp.
		luma, band := lumaPlane(fr), make([]byte, 0, StampWidth*StampHeight)
		for y := range StampHeight {
			band = append(band, luma[y*tc.w:y*tc.w+StampWidth]...)
		}
		f.Add(band, StampWidth, StampWidth, StampHeight)
	}
	f.Add([]byte{}, 0, 0, 0)
	f.Add([]byte{1, 2, 3}, -1, math.MaxInt, math.MaxInt)
	f.Fuzz(func(t *testing.T, data []byte, stride, width, height int) {
		c1, t1, ok1 := ReadStamp(data, stride, width, height)
		c2, t2, ok2 := ReadStamp(data, stride, width, height)
		if c1 != c2 || !t1.Equal(t2) || ok1 != ok2 {
			t.Fatalf("ReadStamp not deterministic: %d %v %v, then %d %v %v", c1, t1, ok1, c2, t2, ok2)
		}
		if !ok1 && (c1 != 0 || !t1.IsZero()) {
			t.Fatalf("ReadStamp returned %d, %v with ok=false", c1, t1)
		}
		// Whatever the format, a frame that Stamp accepts reads back.
		for _, pix := range []PixelFormat{I420, NV12, YUYV, MJPEG} {
			fr := &Frame{Data: bytes.Clone(data), Format: Format{Width: width, Height: height, Pixel: pix}}
			ReadFrameStamp(fr)
			want := time.UnixMicro(int64(len(data)) * 1e6)
			Stamp(fr, uint32(stride), want)
			c, got, ok := ReadFrameStamp(fr)
			if stampable(fr.Format, len(data)) && (!ok || c != uint32(stride) || !got.Equal(want)) {
				t.Fatalf("%v: stamped %d, %v; read %d, %v, %v", fr.Format, uint32(stride), want, c, got, ok)
			}
		}
	})
}
