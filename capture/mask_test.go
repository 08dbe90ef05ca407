// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/camnode/camnode/firmware"
)

// rawFormats are the formats a mask plan applies to.
var rawFormats = []PixelFormat{YUYV, NV12, I420}

func rect(x0, y0, x1, y1 float64) firmware.Mask {
	return firmware.Mask{Rect: []float64{x0, y0, x1, y1}}
}

func poly(pts ...float64) firmware.Mask {
	m := firmware.Mask{}
	for i := 0; i+1 < len(pts); i += 2 {
		m.Poly = append(m.Poly, []float64{pts[i], pts[i+1]})
	}
	return m
}

// frameBytes describes, independently of mask.go, every byte of a raw frame:
// which chroma block (2x2 luma pixels for 4:2:0, 2x1 for 4:2:2) it belongs
// to and the value a mask fills it with. visit is called once per byte.
func frameBytes(p PixelFormat, w, h int, visit func(i, bx, by int, fill byte)) {
	cw, ch := (w+1)/2, (h+1)/2
	switch p {
	case YUYV:
		for y := range h {
			for b := range 2 * w {
				fill := byte(MaskFillY)
				if b%2 == 1 {
					fill = MaskFillUV
				}
				visit(y*2*w+b, b/4, y, fill)
			}
		}
	case I420, NV12:
		for y := range h {
			for x := range w {
				visit(y*w+x, x/2, y/2, MaskFillY)
			}
		}
		for cy := range ch {
			for cx := range cw {
				if p == I420 {
					visit(w*h+cy*cw+cx, cx, cy, MaskFillUV)
					visit(w*h+cw*ch+cy*cw+cx, cx, cy, MaskFillUV)
				} else {
					visit(w*h+cy*2*cw+2*cx, cx, cy, MaskFillUV)
					visit(w*h+cy*2*cw+2*cx+1, cx, cy, MaskFillUV)
				}
			}
		}
	}
}

// blockHeight is the number of luma rows per chroma block.
func blockHeight(p PixelFormat) int {
	if p == YUYV {
		return 1
	}
	return 2
}

// insidePoly is the even-odd point-in-polygon test, in pixel coordinates.
func insidePoly(m firmware.Mask, w, h int, x, y float64) bool {
	in := false
	n := len(m.Poly)
	for i := range n {
		ax, ay := m.Poly[i][0]*float64(w), m.Poly[i][1]*float64(h)
		bx, by := m.Poly[(i+1)%n][0]*float64(w), m.Poly[(i+1)%n][1]*float64(h)
		if (ay > y) != (by > y) && x < ax+(y-ay)*(bx-ax)/(by-ay) {
			in = !in
		}
	}
	return in
}

// polyDist is the distance of (x, y) from the closed polygon (0 inside).
func polyDist(m firmware.Mask, w, h int, x, y float64) float64 {
	if insidePoly(m, w, h, x, y) {
		return 0
	}
	d := math.Inf(1)
	n := len(m.Poly)
	for i := range n {
		ax, ay := m.Poly[i][0]*float64(w), m.Poly[i][1]*float64(h)
		bx, by := m.Poly[(i+1)%n][0]*float64(w), m.Poly[(i+1)%n][1]*float64(h)
		dx, dy := bx-ax, by-ay
		t := 0.0
		if l := dx*dx + dy*dy; l > 0 {
			t = min(max(((x-ax)*dx+(y-ay)*dy)/l, 0), 1)
		}
		d = min(d, math.Hypot(x-ax-t*dx, y-ay-t*dy))
	}
	return d
}

// reference computes, slowly and without mask.go, which pixels a mask must
// cover (must) and which it may cover (may), per chroma block: a block must
// be filled when any of its pixels overlaps a rect, or has one of 4x4
// sample points inside a polygon; a block may be filled when it must, or
// (polygons only) when one of its pixel centres lies within 3 pixels of the
// polygon (outward rounding of slanted edges plus the chroma grid).
func reference(masks []firmware.Mask, p PixelFormat, w, h int) (must, may map[[2]int]bool) {
	must, may = map[[2]int]bool{}, map[[2]int]bool{}
	bh := blockHeight(p)
	for _, m := range masks {
		for y := range h {
			for x := range w {
				b := [2]int{x / 2, y / bh}
				if m.Rect != nil {
					fx, fy := float64(x), float64(y)
					if fx+1 > m.Rect[0]*float64(w) && fx < m.Rect[2]*float64(w) && fy+1 > m.Rect[1]*float64(h) && fy < m.Rect[3]*float64(h) {
						must[b], may[b] = true, true
					}
					continue
				}
				for s := range 16 {
					if insidePoly(m, w, h, float64(x)+(float64(s%4)+0.5)/4, float64(y)+(float64(s/4)+0.5)/4) {
						must[b], may[b] = true, true
						break
					}
				}
				if polyDist(m, w, h, float64(x)+0.5, float64(y)+0.5) <= 3 {
					may[b] = true
				}
			}
		}
	}
	return must, may
}

// testFrame returns a frame whose bytes are never a fill value, inside a
// larger buffer whose tail is a guard: guard() reports a write past the
// frame.
func testFrame(p PixelFormat, w, h int) (f *Frame, guard func() bool) {
	f0 := Format{Width: w, Height: h, Pixel: p}
	n := f0.FrameSize()
	buf := make([]byte, n+64)
	for i := range buf {
		b := byte(i*7 + 3)
		if b == MaskFillY || b == MaskFillUV {
			b++
		}
		buf[i] = b
	}
	orig := bytes.Clone(buf[n:])
	return &Frame{Data: buf[:n], Format: f0}, func() bool { return bytes.Equal(buf[n:n+64], orig) }
}

// checkMasked compiles and applies masks and checks every byte of the
// frame against the reference. It returns the first problem.
func checkMasked(masks []firmware.Mask, p PixelFormat, w, h int) error {
	plan, err := CompileMasks(masks, w, h, p)
	if err != nil {
		return fmt.Errorf("CompileMasks: %v", err)
	}
	f, guard := testFrame(p, w, h)
	before := bytes.Clone(f.Data)
	if err := plan.Apply(f); err != nil {
		return fmt.Errorf("Apply: %v", err)
	}
	if !guard() {
		return fmt.Errorf("Apply wrote past the end of the frame")
	}
	must, may := reference(masks, p, w, h)
	var problem error
	frameBytes(p, w, h, func(i, bx, by int, fill byte) {
		if problem != nil {
			return
		}
		b := [2]int{bx, by}
		switch got := f.Data[i]; {
		case must[b] && got != fill:
			problem = fmt.Errorf("byte %d (block %v) = %d, want the fill %d: a masked pixel leaks", i, b, got, fill)
		case !may[b] && got != before[i]:
			problem = fmt.Errorf("byte %d (block %v) changed from %d to %d outside the mask", i, b, before[i], got)
		}
	})
	return problem
}

// maskCases feed TestMaskApply and the seeds of FuzzMaskApply.
var maskCases = []struct {
	name  string
	masks []firmware.Mask
}{
	{"none", nil},
	{"typical two rects", []firmware.Mask{rect(0, 0, 0.25, 1), rect(0.6, 0.1, 0.9, 0.5)}},
	{"full frame", []firmware.Mask{rect(0, 0, 1, 1)}},
	{"left edge", []firmware.Mask{rect(0, 0.3, 0.1, 0.7)}},
	{"right edge", []firmware.Mask{rect(0.9, 0.3, 1, 0.7)}},
	{"top edge", []firmware.Mask{rect(0.2, 0, 0.8, 0.05)}},
	{"bottom edge", []firmware.Mask{rect(0.2, 0.95, 0.8, 1)}},
	{"bottom right corner", []firmware.Mask{rect(0.97, 0.97, 1, 1)}},
	{"odd offsets", []firmware.Mask{rect(0.123, 0.321, 0.517, 0.777)}},
	{"tiny, smaller than a chroma sample", []firmware.Mask{rect(0.5001, 0.5001, 0.5002, 0.5002)}},
	{"tiny at the last pixel", []firmware.Mask{rect(0.9999, 0.9999, 1, 1)}},
	{"thin column", []firmware.Mask{rect(0.31, 0, 0.3101, 1)}},
	{"overlapping", []firmware.Mask{rect(0.1, 0.1, 0.6, 0.6), rect(0.4, 0.4, 0.9, 0.9), rect(0.5, 0.05, 0.55, 0.95)}},
	{"touching", []firmware.Mask{rect(0, 0, 0.5, 0.5), rect(0.5, 0.5, 1, 1)}},
	{"triangle", []firmware.Mask{poly(0.1, 0.1, 0.9, 0.2, 0.3, 0.95)}},
	{"concave U", []firmware.Mask{poly(0.1, 0.1, 0.3, 0.1, 0.3, 0.7, 0.7, 0.7, 0.7, 0.1, 0.9, 0.1, 0.9, 0.9, 0.1, 0.9)}},
	{"self-intersecting bow tie", []firmware.Mask{poly(0, 0, 1, 1, 1, 0, 0, 1)}},
	{"polygon on the edges", []firmware.Mask{poly(0, 0, 1, 0, 1, 1, 0, 1)}},
	{"tiny polygon", []firmware.Mask{poly(0.5, 0.5, 0.5003, 0.5, 0.5, 0.5003)}},
	{"polygon and rect", []firmware.Mask{poly(0.6, 0.6, 1, 0.6, 0.8, 1), rect(0, 0, 0.3, 0.3)}},
}

// maskSizes include odd sizes: YUYV and 4:2:0 frames with a partial last
// chroma sample.
var maskSizes = [][2]int{{64, 48}, {63, 47}, {1, 1}, {2, 2}, {3, 5}, {17, 9}, {160, 90}}

func TestMaskApply(t *testing.T) {
	for _, tc := range maskCases {
		for _, p := range rawFormats {
			for _, sz := range maskSizes {
				t.Run(fmt.Sprintf("%s/%s/%dx%d", tc.name, p, sz[0], sz[1]), func(t *testing.T) {
					if err := checkMasked(tc.masks, p, sz[0], sz[1]); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// TestMaskApplyExactRect pins the outward rounding on a case computed by
// hand: x 0.1..0.4 of 63 pixels is 6.3..25.2, so columns 6..25, grown to
// the chroma grid 6..26; y 0.2..0.9 of 47 rows is 9.4..42.3, so rows
// 9..42, grown to 8..43 for 4:2:0.
func TestMaskApplyExactRect(t *testing.T) {
	plan, err := CompileMasks([]firmware.Mask{rect(0.1, 0.2, 0.4, 0.9)}, 63, 47, I420)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := testFrame(I420, 63, 47)
	if err := plan.Apply(f); err != nil {
		t.Fatal(err)
	}
	for y := range 47 {
		for x := range 63 {
			in := x >= 6 && x < 26 && y >= 8 && y < 44
			if got := f.Data[y*63+x] == MaskFillY; got != in {
				t.Fatalf("pixel %d,%d masked=%v, want %v", x, y, got, in)
			}
		}
	}
}

func TestCompileMasksRefuses(t *testing.T) {
	ok := []firmware.Mask{rect(0, 0, 0.5, 0.5)}
	for _, tc := range []struct {
		name   string
		masks  []firmware.Mask
		w, h   int
		p      PixelFormat
		errHas string
	}{
		{"H264", ok, 64, 48, H264, "cannot be masked without decoding"},
		{"MJPEG", ok, 64, 48, MJPEG, "cannot be masked without decoding"},
		{"unknown format", ok, 64, 48, "RGB3", "cannot be masked"},
		{"zero width", ok, 0, 48, I420, "cannot mask a 0x48 frame"},
		{"negative height", ok, 64, -1, I420, "cannot mask"},
		{"huge", ok, 1 << 20, 48, I420, "cannot mask"},
		{"invalid mask", []firmware.Mask{rect(0, 0, 2, 1)}, 64, 48, I420, "mask 0: rect coordinate 2"},
		{"NaN", []firmware.Mask{rect(0, 0, math.NaN(), 1)}, 64, 48, I420, "outside [0, 1]"},
		{"infinite", []firmware.Mask{poly(0, 0, math.Inf(1), 0, 0, 1)}, 64, 48, I420, "outside [0, 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := CompileMasks(tc.masks, tc.w, tc.h, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) || plan != nil {
				t.Fatalf("CompileMasks = %v, %v; want an error with %q", plan, err, tc.errHas)
			}
		})
	}
}

// TestMaskApplyRefusesOtherFrames: a frame of another size or format, or
// one too short, is refused untouched (the caller drops it) instead of
// being partly masked or panicking.
func TestMaskApplyRefusesOtherFrames(t *testing.T) {
	plan, err := CompileMasks([]firmware.Mask{rect(0, 0, 1, 1)}, 64, 48, NV12)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Masks() != 1 || plan.Format() != (Format{Width: 64, Height: 48, Pixel: NV12}) {
		t.Fatalf("plan says %d masks for %v", plan.Masks(), plan.Format())
	}
	for _, f := range []*Frame{
		nil,
		{Data: make([]byte, 64*48*2), Format: Format{Width: 64, Height: 48, Pixel: YUYV}},
		{Data: make([]byte, 64*48*2), Format: Format{Width: 48, Height: 64, Pixel: NV12}},
		{Data: make([]byte, 64*48*3/2-1), Format: Format{Width: 64, Height: 48, Pixel: NV12}},
		{Data: make([]byte, 64*48*3/2), Format: Format{Width: 64, Height: 48, Pixel: H264}},
	} {
		if err := plan.Apply(f); err != ErrMaskFormat {
			t.Fatalf("Apply(%v) = %v, want ErrMaskFormat", f, err)
		}
		if f != nil && bytes.ContainsAny(f.Data, "\x10") {
			t.Fatalf("a refused frame was written to")
		}
	}
	var none *MaskPlan
	if err := none.Apply(&Frame{}); err != ErrMaskFormat {
		t.Fatalf("nil plan: %v", err)
	}
}

func TestMaskApplyAllocs(t *testing.T) {
	for _, p := range rawFormats {
		plan, err := CompileMasks(maskCases[1].masks, 640, 480, p)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := testFrame(p, 640, 480)
		if n := testing.AllocsPerRun(20, func() { _ = plan.Apply(f) }); n != 0 {
			t.Fatalf("%s: %v allocations per frame, want 0", p, n)
		}
	}
}

// FuzzMaskApply: random masks on random frames never panic, never write
// outside the frame, always cover the reference area and leave what is
// clearly outside untouched.
func FuzzMaskApply(f *testing.F) {
	for i, tc := range maskCases {
		var b []byte
		for _, m := range tc.masks {
			if m.Rect != nil {
				b = append(b, 0)
				for _, v := range m.Rect {
					b = append(b, byte(math.Round(v*255)))
				}
				continue
			}
			b = append(b, byte(len(m.Poly)))
			for _, pt := range m.Poly {
				b = append(b, byte(math.Round(pt[0]*255)), byte(math.Round(pt[1]*255)))
			}
		}
		sz := maskSizes[i%len(maskSizes)]
		f.Add(b, uint8(sz[0]), uint8(sz[1]), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, w, h, sel uint8) {
		if w == 0 || h == 0 || w > 96 || h > 96 {
			return
		}
		p := rawFormats[int(sel)%len(rawFormats)]
		coord := func() float64 {
			if len(data) == 0 {
				return 0.5
			}
			v := float64(data[0]) / 255
			data = data[1:]
			return v
		}
		var masks []firmware.Mask
		for len(data) > 0 && len(masks) < firmware.MaxMasks {
			kind := data[0]
			data = data[1:]
			if kind < 3 {
				masks = append(masks, rect(coord(), coord(), coord(), coord()))
				continue
			}
			m := firmware.Mask{}
			for range min(int(kind), firmware.MaxPolyPoints) {
				m.Poly = append(m.Poly, []float64{coord(), coord()})
			}
			masks = append(masks, m)
		}
		for _, m := range masks {
			if m.Validate() != nil {
				if _, err := CompileMasks(masks, int(w), int(h), p); err == nil {
					t.Fatalf("compiled an invalid mask %+v", m)
				}
				return
			}
		}
		if err := checkMasked(masks, p, int(w), int(h)); err != nil {
			t.Fatalf("%s %dx%d %+v: %v", p, w, h, masks, err)
		}
	})
}

func BenchmarkMaskApply(b *testing.B) {
	for _, sz := range [][2]int{{640, 480}, {1280, 720}} {
		for _, p := range rawFormats {
			b.Run(fmt.Sprintf("%dx%d/%s", sz[0], sz[1], p), func(b *testing.B) {
				// A typical corridor: a door on the left, a glass panel on the right.
				plan, err := CompileMasks([]firmware.Mask{rect(0.05, 0.1, 0.3, 0.95), rect(0.65, 0.2, 0.9, 0.6)}, sz[0], sz[1], p)
				if err != nil {
					b.Fatal(err)
				}
				f, _ := testFrame(p, sz[0], sz[1])
				b.SetBytes(int64(len(f.Data)))
				b.ReportAllocs()
				for b.Loop() {
					if err := plan.Apply(f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestMasker: the plan follows the frames' format (a new size or pixel
// format is masked correctly, not with the old plan), a format that cannot
// be masked is an error every time, and steady state allocates nothing.
func TestMasker(t *testing.T) {
	if NewMasker(nil) != nil {
		t.Fatal("NewMasker(nil) != nil")
	}
	tc := maskCases[1]
	m := NewMasker(tc.masks)
	for _, size := range [][2]int{{640, 480}, {64, 48}, {640, 480}} {
		for _, p := range rawFormats {
			f, _ := testFrame(p, size[0], size[1])
			g, _ := testFrame(p, size[0], size[1])
			if err := m.Apply(f); err != nil {
				t.Fatalf("%s %dx%d: %v", p, size[0], size[1], err)
			}
			plan, err := CompileMasks(tc.masks, size[0], size[1], p)
			if err != nil {
				t.Fatal(err)
			}
			if err := plan.Apply(g); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Data, g.Data) {
				t.Fatalf("%s %dx%d: the Masker's frame differs from its own plan's", p, size[0], size[1])
			}
		}
	}
	h := &Frame{Format: Format{Width: 64, Height: 48, Pixel: H264}, Data: []byte{0, 0, 0, 1, 0x65}}
	for range 2 {
		if err := m.Apply(h); err == nil {
			t.Fatal("an H.264 frame was \"masked\"")
		}
	}
	f, _ := testFrame(I420, 640, 480)
	if n := testing.AllocsPerRun(20, func() { _ = m.Apply(f) }); n != 0 {
		t.Fatalf("%v allocations per frame, want 0", n)
	}
}
