// SPDX-License-Identifier: Apache-2.0

package capture

import "time"

// poolSize is the number of frame buffers a synthetic stream cycles through.
const poolSize = 3

// Motion of the test pattern, in pixels per frame. Both are even so that
// moving parts stay aligned to the 2x2 chroma grid.
const (
	rampStep = 4 // horizontal scroll of the bottom luma ramp
	boxStepX = 6 // horizontal step of the moving box
	boxStepY = 2 // vertical step of the moving box
)

// yuv is one colour in BT.601 limited range.
type yuv struct{ y, u, v byte }

// bars returns the eight 75% colour bars (white, yellow, cyan, green,
// magenta, red, blue, black), left to right.
func bars() [8]yuv {
	return [8]yuv{
		{180, 128, 128},
		{162, 44, 142},
		{131, 156, 44},
		{112, 72, 58},
		{84, 184, 198},
		{65, 100, 212},
		{35, 212, 114},
		{16, 128, 128},
	}
}

// painter renders the synthetic test pattern into a fixed pool of frames.
// Everything it needs is allocated by newPainter; produce allocates nothing.
//
// The pattern is colour bars over the top three quarters, a luma ramp that
// scrolls left by rampStep pixels per frame over the bottom quarter, and a
// square box whose position and brightness change with the frame number,
// topped by the machine-readable stamp (see Stamp).
type painter struct {
	format Format
	frames [poolSize]Frame
	next   int

	barsH  int // rows of colour bars; the ramp fills the rest
	box    int // side of the moving box, even
	grey   []byte
	planar struct{ bar, ramp, u, v []byte }
	packed struct{ bar, ramp []byte }
}

// newPainter allocates the frame pool and the row templates for f, whose
// Pixel must be I420 or YUYV and whose Width and Height must be even and
// positive.
func newPainter(f Format) *painter {
	w, h := f.Width, f.Height
	p := &painter{
		format: f,
		barsH:  (h * 3 / 4) &^ 1,
		box:    max(2, (min(w, h)/4)&^1),
	}
	size := f.FrameSize()
	for i := range p.frames {
		p.frames[i] = Frame{Data: make([]byte, size), Format: f}
	}
	b := bars()
	barAt := func(x int) yuv { return b[x*len(b)/w] }
	rampAt := func(x int) byte { return byte(16 + (x%w)*220/w) }
	switch f.Pixel {
	case I420:
		cw := w / 2
		p.planar.bar = make([]byte, w)
		p.planar.ramp = make([]byte, 2*w)
		p.planar.u = make([]byte, cw)
		p.planar.v = make([]byte, cw)
		p.grey = make([]byte, cw)
		for x := range w {
			p.planar.bar[x] = barAt(x).y
		}
		for x := range 2 * w {
			p.planar.ramp[x] = rampAt(x)
		}
		for cx := range cw {
			c := barAt(2 * cx)
			p.planar.u[cx], p.planar.v[cx], p.grey[cx] = c.u, c.v, 128
		}
	case YUYV:
		p.packed.bar = make([]byte, 2*w)
		p.packed.ramp = make([]byte, 4*w)
		for x := 0; x < w; x += 2 {
			c0, c1 := barAt(x), barAt(x+1)
			copy(p.packed.bar[2*x:], []byte{c0.y, c0.u, c1.y, c0.v})
		}
		for x := range 2 * w {
			p.packed.ramp[2*x], p.packed.ramp[2*x+1] = rampAt(x), 128
		}
	}
	return p
}

// produce renders frame seq, captured at t, into the next pool buffer,
// stamps it and returns it. The frame stays valid until produce has been
// called poolSize more times.
func (p *painter) produce(seq uint64, t time.Time) *Frame {
	f := &p.frames[p.next]
	p.next = (p.next + 1) % poolSize
	f.Seq, f.Time = seq, t
	switch p.format.Pixel {
	case I420:
		p.paintI420(f.Data, seq)
	case YUYV:
		p.paintYUYV(f.Data, seq)
	}
	Stamp(f, uint32(seq), t)
	return f
}

// boxAt returns the top-left corner (both even) and the colour of the
// moving box in frame seq.
func (p *painter) boxAt(seq uint64) (bx, by int, c yuv) {
	w, h := p.format.Width, p.format.Height
	bx = int(seq*boxStepX%uint64(w-p.box+1)) &^ 1
	by = int(seq*boxStepY%uint64(h-p.box+1)) &^ 1
	return bx, by, yuv{byte(16 + seq*7%220), 90, 240}
}

func (p *painter) paintI420(buf []byte, seq uint64) {
	w, h := p.format.Width, p.format.Height
	cw, ch := w/2, h/2
	yp, up, vp := buf[:w*h], buf[w*h:w*h+cw*ch], buf[w*h+cw*ch:]
	off := int(seq * rampStep % uint64(w))
	for y := range h {
		if y < p.barsH {
			copy(yp[y*w:], p.planar.bar)
		} else {
			copy(yp[y*w:(y+1)*w], p.planar.ramp[off:])
		}
	}
	for cy := range ch {
		if 2*cy < p.barsH {
			copy(up[cy*cw:], p.planar.u)
			copy(vp[cy*cw:], p.planar.v)
		} else {
			copy(up[cy*cw:], p.grey)
			copy(vp[cy*cw:], p.grey)
		}
	}
	bx, by, c := p.boxAt(seq)
	for y := by; y < by+p.box; y++ {
		fill(yp[y*w+bx:y*w+bx+p.box], c.y)
	}
	for cy := by / 2; cy < (by+p.box)/2; cy++ {
		fill(up[cy*cw+bx/2:cy*cw+(bx+p.box)/2], c.u)
		fill(vp[cy*cw+bx/2:cy*cw+(bx+p.box)/2], c.v)
	}
}

func (p *painter) paintYUYV(buf []byte, seq uint64) {
	w, h := p.format.Width, p.format.Height
	rs := 2 * w // row stride in bytes
	off := int(seq * rampStep % uint64(w))
	for y := range h {
		if y < p.barsH {
			copy(buf[y*rs:], p.packed.bar)
		} else {
			copy(buf[y*rs:(y+1)*rs], p.packed.ramp[2*off:])
		}
	}
	bx, by, c := p.boxAt(seq)
	for y := by; y < by+p.box; y++ {
		row := buf[y*rs+2*bx : y*rs+2*(bx+p.box)]
		for i := 0; i < len(row); i += 4 {
			row[i], row[i+1], row[i+2], row[i+3] = c.y, c.u, c.y, c.v
		}
	}
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
