// SPDX-License-Identifier: Apache-2.0

package capturetest

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"time"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// The leak test of privacy masks (issue 13, invariant 7): a picture whose
// masks cover a distinctive pattern, with the frame stamp outside them.
// Whatever path the picture takes (the pipeline and x264, a browser's
// decoder, uvcvideo), the decoded output must show the fill colour across
// every mask, the pattern around it (proof it was there to leak) and the
// stamp intact.

// Pattern colours: 8x8 checkerboard of white and magenta, BT.601 limited
// range. Both are far from the mask fill (black, neutral chroma) in luma
// and in chroma, so a leak of either shows.
const (
	leakBlock = 8
	// LeakMargin is how far (pixels) beyond each mask's bounding box the
	// pattern is painted: the ring that proves the pattern reaches the
	// output where no mask covers it.
	LeakMargin = 24
	// LeakTolerance is the tolerance (pixels from a mask border that lies
	// inside the picture) for an encoder's block edges: one H.264
	// macroblock. Borders on the picture's edges get none.
	LeakTolerance = 16
	// ringSlack is added to the tolerance for the ring outside the masks:
	// masks are rounded outward to whole pixels and chroma samples.
	ringSlack = 4
)

var (
	leakWhite   = [3]byte{235, 128, 128}
	leakMagenta = [3]byte{106, 202, 222}
)

// LeakMasks are masks for a 640x480 leak test: at the top and right edges,
// at the bottom and left edges, a small one in the middle, and a triangle;
// every border at an odd pixel offset; none near the stamp (top left, 320x96
// pixels).
func LeakMasks() []firmware.Mask {
	return []firmware.Mask{
		{Rect: []float64{0.7025, 0, 1, 0.351}},            // x 449..640, y 0..169
		{Rect: []float64{0, 0.7771, 0.3359, 1}},           // x 0..215, y 373..480
		{Rect: []float64{0.4117, 0.4523, 0.4931, 0.5619}}, // x 263..316, y 217..270
		{Poly: [][]float64{{0.55, 0.6}, {0.9, 0.65}, {0.62, 0.95}}},
	}
}

// LeakScene is one leak test: W x H pictures with Masks.
type LeakScene struct {
	W, H  int
	Masks []firmware.Mask
}

// contains reports whether the point (x, y) (pixels) is inside mask m.
func (s LeakScene) contains(m firmware.Mask, x, y float64) bool {
	w, h := float64(s.W), float64(s.H)
	if m.Rect != nil {
		return x >= m.Rect[0]*w && x < m.Rect[2]*w && y >= m.Rect[1]*h && y < m.Rect[3]*h
	}
	in := false
	n := len(m.Poly)
	for i := range n {
		ax, ay := m.Poly[i][0]*w, m.Poly[i][1]*h
		bx, by := m.Poly[(i+1)%n][0]*w, m.Poly[(i+1)%n][1]*h
		if (ay > y) != (by > y) && x < ax+(y-ay)*(bx-ax)/(by-ay) {
			in = !in
		}
	}
	return in
}

// segments returns the borders of m (pixels) that lie inside the picture
// (a border on the picture's edge is not one an encoder can blur across).
func (s LeakScene) segments(m firmware.Mask) [][4]float64 {
	w, h := float64(s.W), float64(s.H)
	var all, segs [][4]float64
	if m.Rect != nil {
		x0, y0, x1, y1 := m.Rect[0]*w, m.Rect[1]*h, m.Rect[2]*w, m.Rect[3]*h
		all = [][4]float64{{x0, y0, x1, y0}, {x1, y0, x1, y1}, {x1, y1, x0, y1}, {x0, y1, x0, y0}}
	} else {
		n := len(m.Poly)
		for i := range n {
			all = append(all, [4]float64{m.Poly[i][0] * w, m.Poly[i][1] * h, m.Poly[(i+1)%n][0] * w, m.Poly[(i+1)%n][1] * h})
		}
	}
	onEdge := func(a, b, lim float64) bool { return a == b && (a <= 0 || a >= lim) }
	for _, sg := range all {
		if !onEdge(sg[0], sg[2], w) && !onEdge(sg[1], sg[3], h) {
			segs = append(segs, sg)
		}
	}
	return segs
}

// dist returns the distance from (x, y) to the nearest of segs.
func dist(segs [][4]float64, x, y float64) float64 {
	d := math.Inf(1)
	for _, sg := range segs {
		dx, dy := sg[2]-sg[0], sg[3]-sg[1]
		t := 0.0
		if l := dx*dx + dy*dy; l > 0 {
			t = min(max(((x-sg[0])*dx+(y-sg[1])*dy)/l, 0), 1)
		}
		d = min(d, math.Hypot(x-sg[0]-t*dx, y-sg[1]-t*dy))
	}
	return d
}

// bounds returns the pixel bounding box of m.
func (s LeakScene) bounds(m firmware.Mask) image.Rectangle {
	w, h := float64(s.W), float64(s.H)
	if m.Rect != nil {
		return image.Rect(int(m.Rect[0]*w), int(m.Rect[1]*h), int(math.Ceil(m.Rect[2]*w)), int(math.Ceil(m.Rect[3]*h)))
	}
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range m.Poly {
		x0, y0, x1, y1 = min(x0, p[0]*w), min(y0, p[1]*h), max(x1, p[0]*w), max(y1, p[1]*h)
	}
	return image.Rect(int(x0), int(y0), int(math.Ceil(x1)), int(math.Ceil(y1)))
}

// paintedMap returns, for each pixel (row-major), whether the pattern is
// painted there: within LeakMargin of a mask's bounding box, outside the
// stamp.
func (s LeakScene) paintedMap() []bool {
	out := make([]bool, s.W*s.H)
	for _, m := range s.Masks {
		r := s.bounds(m).Inset(-LeakMargin).Intersect(image.Rect(0, 0, s.W, s.H))
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				out[y*s.W+x] = x >= capture.StampWidth || y >= capture.StampHeight
			}
		}
	}
	return out
}

// patternAt is the pattern's colour at pixel (x, y).
func patternAt(x, y int) [3]byte {
	if (x/leakBlock+y/leakBlock)%2 == 0 {
		return leakWhite
	}
	return leakMagenta
}

// Paint paints the pattern into a raw frame (I420, NV12 or YUYV) around
// and under every mask, leaving the stamp alone. Chroma takes the colour
// of the top-left pixel of its sample.
func (s LeakScene) Paint(f *capture.Frame) {
	w, h := f.Format.Width, f.Format.Height
	cw, ch := (w+1)/2, (h+1)/2
	d := f.Data
	painted := s.paintedMap()
	for y := range h {
		for x := range w {
			if !painted[y*w+x] {
				continue
			}
			c := patternAt(x, y)
			switch f.Format.Pixel {
			case capture.I420:
				d[y*w+x] = c[0]
				if x%2 == 0 && y%2 == 0 {
					d[w*h+(y/2)*cw+x/2], d[w*h+cw*ch+(y/2)*cw+x/2] = c[1], c[2]
				}
			case capture.NV12:
				d[y*w+x] = c[0]
				if x%2 == 0 && y%2 == 0 {
					i := w*h + (y/2)*2*cw + x
					d[i], d[i+1] = c[1], c[2]
				}
			case capture.YUYV:
				i := y*2*w + 2*x
				d[i] = c[0]
				if x%2 == 0 {
					d[i+1], d[i+3] = c[1], c[2]
				}
			}
		}
	}
}

// Frames renders n pictures in format p (I420, NV12, YUYV or MJPEG): the
// synthetic test pattern stamped with counters 0..n-1, and the leak
// pattern around and under the masks. MJPEG pictures are 4:2:0 JPEGs
// (quality 90) of the I420 picture.
func (s LeakScene) Frames(p capture.PixelFormat, n int) ([][]byte, error) {
	src := p
	if p == capture.NV12 || p == capture.MJPEG {
		src = capture.I420
	}
	tp, err := capture.NewTestPattern(capture.SyntheticConfig{Width: s.W, Height: s.H, Pixel: src, FPS: 30})
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	var out [][]byte
	for i := range n {
		f := tp.Frame(uint64(i), t0.Add(time.Duration(i)*time.Second/30))
		f = &capture.Frame{Data: bytes.Clone(f.Data), Format: f.Format}
		s.Paint(f)
		switch p {
		case capture.I420, capture.YUYV:
			out = append(out, f.Data)
		case capture.NV12:
			out = append(out, i420ToNV12(f.Data, s.W, s.H))
		case capture.MJPEG:
			var b bytes.Buffer
			if err := jpeg.Encode(&b, capture.I420Image(f.Data, s.W, s.H), &jpeg.Options{Quality: 90}); err != nil {
				return nil, err
			}
			out = append(out, b.Bytes())
		default:
			return nil, fmt.Errorf("capturetest: no leak frames in %s", p)
		}
	}
	return out, nil
}

func i420ToNV12(d []byte, w, h int) []byte {
	cw, ch := (w+1)/2, (h+1)/2
	out := make([]byte, w*h+2*cw*ch)
	copy(out, d[:w*h])
	for i := range cw * ch {
		out[w*h+2*i], out[w*h+2*i+1] = d[w*h+i], d[w*h+cw*ch+i]
	}
	return out
}

// Check checks a decoded picture of the scene. tol is the tolerance at
// mask borders inside the picture (0 for raw frames, LeakTolerance for
// encoded ones). It fails unless
//
//   - every pixel inside a mask, farther than tol from its borders inside
//     the picture, has the fill colour (black: no channel above 64 of 255);
//   - the pattern shows (a channel at 128 or more) on at least 90% of the
//     painted pixels farther than tol+4 from every mask (the test could
//     see a leak);
//   - the stamp (top left) reads back.
func (s LeakScene) Check(img image.Image, tol int) error {
	b := img.Bounds()
	if b.Dx() != s.W || b.Dy() != s.H {
		return fmt.Errorf("picture is %dx%d, want %dx%d", b.Dx(), b.Dy(), s.W, s.H)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, s.W, s.H))
	draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
	maxc := func(x, y int) byte {
		p := rgba.Pix[y*rgba.Stride+4*x:]
		return max(p[0], p[1], p[2])
	}
	var errs []error
	segs := make([][][4]float64, len(s.Masks))
	for i, m := range s.Masks {
		segs[i] = s.segments(m)
	}
	// Inside each mask, away from its borders inside the picture: the fill.
	leaks := 0
	for i, m := range s.Masks {
		r := s.bounds(m).Intersect(rgba.Rect)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				px, py := float64(x)+0.5, float64(y)+0.5
				if !s.contains(m, px, py) || dist(segs[i], px, py) < float64(tol) {
					continue
				}
				if c := maxc(x, y); c > 64 {
					if leaks < 5 {
						errs = append(errs, fmt.Errorf("pixel (%d,%d) inside mask %v: max channel %d, not the fill", x, y, m, c))
					}
					leaks++
				}
			}
		}
	}
	if leaks > 0 {
		errs = append(errs, fmt.Errorf("%d masked pixels are not the fill colour", leaks))
	}
	// Around the masks, where the pattern is painted: the pattern.
	painted := s.paintedMap()
	ringPix, ringPattern := 0, 0
	for y := range s.H {
	pixel:
		for x := range s.W {
			if !painted[y*s.W+x] {
				continue
			}
			px, py := float64(x)+0.5, float64(y)+0.5
			for i, m := range s.Masks {
				if s.contains(m, px, py) || dist(segs[i], px, py) < float64(tol+ringSlack) {
					continue pixel
				}
			}
			ringPix++
			if maxc(x, y) >= 128 {
				ringPattern++
			}
		}
	}
	if ringPix == 0 || ringPattern*10 < ringPix*9 {
		errs = append(errs, fmt.Errorf("the pattern shows on %d of %d unmasked pixels around the masks: the picture is not the leak scene", ringPattern, ringPix))
	}
	luma := make([]byte, capture.StampWidth*capture.StampHeight)
	for y := range capture.StampHeight {
		for x := range capture.StampWidth {
			luma[y*capture.StampWidth+x] = color.GrayModel.Convert(rgba.RGBAAt(x, y)).(color.Gray).Y
		}
	}
	if _, _, ok := capture.ReadStamp(luma, capture.StampWidth, capture.StampWidth, capture.StampHeight); !ok {
		errs = append(errs, errors.New("the stamp outside the masks does not read back"))
	}
	return errors.Join(errs...)
}
