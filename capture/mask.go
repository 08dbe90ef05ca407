// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/camnode/camnode/firmware"
)

// The colour of masked pixels: black (video range), with neutral chroma. A
// solid fill, not a blur: a blur can be partly undone.
const (
	MaskFillY  = 16
	MaskFillUV = 128
)

// maxMaskDim bounds the frame sizes CompileMasks accepts.
const maxMaskDim = 16384

// polyEpsilon widens polygon spans (in pixels) so that floating-point
// rounding at an edge never leaves an inside pixel unmasked.
const polyEpsilon = 1e-7

// ErrMaskFormat is returned by MaskPlan.Apply for a frame the plan was not
// compiled for. The caller must drop the frame: it is not masked.
var ErrMaskFormat = errors.New("capture: frame does not match the mask plan")

// MaskPlan is a set of privacy masks compiled for one frame size and pixel
// format: a list of byte ranges to fill. Compile once per negotiated format
// (CompileMasks), apply to every frame (Apply). A MaskPlan is immutable and
// may be used by several goroutines at once.
type MaskPlan struct {
	width, height int
	pixel         PixelFormat
	size          int // bytes of one frame
	masks         int
	ops           []maskOp
	fills         [numFills][]byte
}

// maskOp fills data[off:off+n] from fills[kind][:n].
type maskOp struct {
	off, n int
	kind   uint8
}

const (
	fillLuma   = iota // MaskFillY everywhere
	fillChroma        // MaskFillUV everywhere
	fillPacked        // YUYV: MaskFillY at even bytes, MaskFillUV at odd
	numFills
)

// span is a half-open range of pixel columns [c0, c1).
type span struct{ c0, c1 int }

// CompileMasks compiles masks for frames of width x height in a raw pixel
// format (I420, NV12 or YUYV). Coordinates are rounded outward: a pixel is
// masked when any part of it lies inside a mask (for polygons, a pixel or
// two more near slanted edges). Then the masked area is grown to whole
// chroma samples (2x2 luma pixels for I420 and NV12, 2x1 for YUYV) so no
// partly masked chroma sample keeps the colour of what is behind the mask.
//
// It fails for invalid masks (firmware.Mask.Validate), for compressed
// formats, which cannot be masked without decoding, and for sizes outside
// 1..16384. No masks give a plan that changes nothing.
func CompileMasks(masks []firmware.Mask, width, height int, pixel PixelFormat) (*MaskPlan, error) {
	var bh int // luma rows per chroma row
	switch pixel {
	case I420, NV12:
		bh = 2
	case YUYV:
		bh = 1
	default:
		return nil, fmt.Errorf("capture: masks need a raw format (I420, NV12, YUYV); %q cannot be masked without decoding", pixel)
	}
	if width < 1 || height < 1 || width > maxMaskDim || height > maxMaskDim {
		return nil, fmt.Errorf("capture: cannot mask a %dx%d frame", width, height)
	}
	for i, m := range masks {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("capture: mask %d: %w", i, err)
		}
	}
	p := &MaskPlan{width: width, height: height, pixel: pixel, masks: len(masks)}
	p.size = Format{Width: width, Height: height, Pixel: pixel}.FrameSize()

	// 1. Pixel spans per luma row, rounded outward.
	rows := make([][]span, height)
	add := func(r int, lo, hi float64) {
		c0 := int(math.Floor(lo))
		c1 := max(int(math.Ceil(hi)), c0+1)
		c0, c1 = max(c0, 0), min(c1, width)
		if c0 < c1 && r >= 0 && r < height {
			rows[r] = append(rows[r], span{c0, c1})
		}
	}
	w, h := float64(width), float64(height)
	var xs []float64 // scratch for polygon crossings
	for _, m := range masks {
		if m.Rect != nil {
			r0 := int(math.Floor(m.Rect[1] * h))
			r1 := max(int(math.Ceil(m.Rect[3]*h)), r0+1)
			for r := max(r0, 0); r < min(r1, height); r++ {
				add(r, m.Rect[0]*w, m.Rect[2]*w)
			}
			continue
		}
		xs = polySpans(m.Poly, w, h, xs, add)
	}

	// 2. Grow to whole chroma samples: one merged span list per chroma row,
	// used by its bh luma rows and by the chroma row itself.
	cw, ch := (width+1)/2, (height+bh-1)/bh
	var ops []maskOp
	for br := range ch {
		var sp []span
		for r := br * bh; r < min(br*bh+bh, height); r++ {
			for _, s := range rows[r] {
				sp = append(sp, span{s.c0 &^ 1, min(s.c1+s.c1&1, width)})
			}
		}
		sp = mergeSpans(sp)
		for _, s := range sp {
			for r := br * bh; r < min(br*bh+bh, height); r++ {
				switch pixel {
				case YUYV:
					ops = append(ops, maskOp{r*2*width + 2*s.c0, 2 * (s.c1 - s.c0), fillPacked})
				default:
					ops = append(ops, maskOp{r*width + s.c0, s.c1 - s.c0, fillLuma})
				}
			}
			u0, u1 := s.c0/2, (s.c1+1)/2
			base := width * height
			switch pixel {
			case I420:
				ops = append(ops,
					maskOp{base + br*cw + u0, u1 - u0, fillChroma},
					maskOp{base + cw*ch + br*cw + u0, u1 - u0, fillChroma})
			case NV12:
				ops = append(ops, maskOp{base + br*2*cw + 2*u0, 2 * (u1 - u0), fillChroma})
			}
		}
	}

	// 3. Coalesce touching ranges (full-width masks become one copy per
	// plane) and size the fill sources. YUYV keeps luma at even and
	// chroma at odd byte offsets across rows, so its pattern coalesces too.
	slices.SortFunc(ops, func(a, b maskOp) int { return cmp.Compare(a.off, b.off) })
	var maxN [numFills]int
	for _, op := range ops {
		if n := len(p.ops); n > 0 && p.ops[n-1].kind == op.kind && p.ops[n-1].off+p.ops[n-1].n >= op.off {
			last := &p.ops[n-1]
			last.n = max(last.n, op.off+op.n-last.off)
		} else {
			p.ops = append(p.ops, op)
		}
		last := p.ops[len(p.ops)-1]
		maxN[last.kind] = max(maxN[last.kind], last.n)
	}
	for k, n := range maxN {
		if n == 0 {
			continue
		}
		b := make([]byte, n)
		for i := range b {
			switch {
			case k == fillLuma, k == fillPacked && i%2 == 0:
				b[i] = MaskFillY
			default:
				b[i] = MaskFillUV
			}
		}
		p.fills[k] = b
	}
	return p, nil
}

// polySpans adds, for each pixel row r the polygon (relative coordinates,
// scaled by w and h) reaches, column ranges that cover every point of the
// polygon with r <= y <= r+1. It takes the even-odd intervals of the
// scanline y = r and the x range of every edge within the row: a point
// inside the polygon either sees the scanline straight above it inside
// too, or an edge lies between them. xs is scratch, returned for reuse.
func polySpans(poly [][]float64, w, h float64, xs []float64, add func(r int, lo, hi float64)) []float64 {
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, p := range poly {
		minY, maxY = min(minY, p[1]*h), max(maxY, p[1]*h)
	}
	r0 := int(math.Floor(minY))
	r1 := max(int(math.Ceil(maxY)), r0+1)
	n := len(poly)
	for r := r0; r < r1; r++ {
		yt, yb := float64(r), float64(r+1)
		xs = xs[:0]
		for i := range n {
			ax, ay := poly[i][0]*w, poly[i][1]*h
			bx, by := poly[(i+1)%n][0]*w, poly[(i+1)%n][1]*h
			if (ay > yt) != (by > yt) {
				xs = append(xs, ax+(yt-ay)*(bx-ax)/(by-ay))
			}
			if max(ay, by) < yt || min(ay, by) > yb {
				continue
			}
			lo, hi := min(ax, bx), max(ax, bx)
			if ay != by {
				ta := min(max((yt-ay)/(by-ay), 0), 1)
				tb := min(max((yb-ay)/(by-ay), 0), 1)
				xa, xb := ax+ta*(bx-ax), ax+tb*(bx-ax)
				lo, hi = min(xa, xb), max(xa, xb)
			}
			add(r, lo-polyEpsilon, hi+polyEpsilon)
		}
		slices.Sort(xs)
		for i := 0; i+1 < len(xs); i += 2 {
			add(r, xs[i]-polyEpsilon, xs[i+1]+polyEpsilon)
		}
	}
	return xs
}

// mergeSpans sorts spans and merges those that overlap or touch.
func mergeSpans(sp []span) []span {
	if len(sp) < 2 {
		return sp
	}
	slices.SortFunc(sp, func(a, b span) int { return cmp.Compare(a.c0, b.c0) })
	out := sp[:1]
	for _, s := range sp[1:] {
		last := &out[len(out)-1]
		if s.c0 <= last.c1 {
			last.c1 = max(last.c1, s.c1)
		} else {
			out = append(out, s)
		}
	}
	return out
}

// Apply fills the masked pixels of f in place. It returns ErrMaskFormat,
// and changes nothing, when f is not a frame of the size and pixel format
// the plan was compiled for, or its Data is shorter than one frame: the
// caller must then drop the frame. It does not allocate.
func (p *MaskPlan) Apply(f *Frame) error {
	if p == nil || f == nil || f.Format.Width != p.width || f.Format.Height != p.height ||
		f.Format.Pixel != p.pixel || len(f.Data) < p.size {
		return ErrMaskFormat
	}
	d := f.Data[:p.size:p.size]
	for _, op := range p.ops {
		copy(d[op.off:op.off+op.n], p.fills[op.kind][:op.n])
	}
	return nil
}

// Masks returns how many masks the plan was compiled from.
func (p *MaskPlan) Masks() int { return p.masks }

// Format returns the frame size and pixel format the plan is for.
func (p *MaskPlan) Format() Format {
	return Format{Width: p.width, Height: p.height, Pixel: p.pixel}
}

// Masker burns a fixed set of masks into frames of whatever raw format
// they come in: it compiles a plan for the first frame's size and format
// and again only when they change, so steady state allocates nothing. An
// error (a format that cannot be masked, a frame that does not match)
// means the frame must not be delivered. A Masker is used by one
// goroutine at a time (the frame pipeline's).
type Masker struct {
	masks []firmware.Mask
	plan  *MaskPlan
	err   error // of the last compile, for frames of the plan's format
	w, h  int
	pixel PixelFormat
}

// NewMasker returns a Masker for masks, or nil when there are none (a
// caller must not turn a nil *Masker into a non-nil interface).
func NewMasker(masks []firmware.Mask) *Masker {
	if len(masks) == 0 {
		return nil
	}
	return &Masker{masks: masks}
}

// Masks returns how many masks m burns in.
func (m *Masker) Masks() int { return len(m.masks) }

// Apply masks f in place.
func (m *Masker) Apply(f *Frame) error {
	ff := f.Format
	if m.plan == nil && m.err == nil || ff.Width != m.w || ff.Height != m.h || ff.Pixel != m.pixel {
		m.w, m.h, m.pixel = ff.Width, ff.Height, ff.Pixel
		m.plan, m.err = CompileMasks(m.masks, ff.Width, ff.Height, ff.Pixel)
	}
	if m.err != nil {
		return m.err
	}
	return m.plan.Apply(f)
}
