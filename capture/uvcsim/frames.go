// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/camnode/camnode/capture"
)

// FrameSource gives the picture for frame n of a stream in format f,
// captured at t. The returned bytes must stay unchanged until the next
// call. It returns nil when it has no picture for f.
type FrameSource interface {
	Frame(f Negotiated, n uint64, t time.Time) []byte
}

// Pictures is the FrameSource of the emulated webcam: YUYV frames are the
// synthetic test pattern with the frame stamp (capture.TestPattern: the
// counter is n), MJPEG frames are recorded JPEGs of the negotiated size,
// served in turn (frame n is JPEG[size][n mod len]).
type Pictures struct {
	JPEG map[Size][][]byte

	mu       sync.Mutex
	patterns map[Size]*capture.TestPattern
}

// Frame implements FrameSource.
func (p *Pictures) Frame(f Negotiated, n uint64, t time.Time) []byte {
	switch f.Pixel {
	case capture.MJPEG:
		js := p.JPEG[f.Size]
		if len(js) == 0 {
			return nil
		}
		return js[n%uint64(len(js))]
	case capture.YUYV:
		p.mu.Lock()
		defer p.mu.Unlock()
		tp := p.patterns[f.Size]
		if tp == nil {
			var err error
			tp, err = capture.NewTestPattern(capture.SyntheticConfig{Width: f.Size.Width, Height: f.Size.Height, Pixel: capture.YUYV, FPS: 30})
			if err != nil {
				return nil
			}
			if p.patterns == nil {
				p.patterns = map[Size]*capture.TestPattern{}
			}
			p.patterns[f.Size] = tp
		}
		return tp.Frame(n, t).Data
	}
	return nil
}

// jpegName is how recorded frames are named: <width>x<height>-<n>.jpg.
var jpegName = regexp.MustCompile(`^([0-9]{2,4})x([0-9]{2,4})-([0-9]{1,3})\.jpg$`)

// LoadJPEGs reads <w>x<h>-<n>.jpg files from dir (testdata/uvc), in
// order of n per size. Each must start with SOI, end with EOI and carry a
// baseline or progressive frame header of the size its name says.
func LoadJPEGs(dir string) (map[Size][][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("uvcsim: %w", err)
	}
	type named struct {
		n    int
		data []byte
	}
	bySize := map[Size][]named{}
	for _, e := range ents {
		m := jpegName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		w, _ := strconv.Atoi(m[1])
		h, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("uvcsim: %w", err)
		}
		if len(b) > 1<<20 {
			return nil, fmt.Errorf("uvcsim: %s: %d bytes, more than 1 MiB", e.Name(), len(b))
		}
		gw, gh, err := JPEGSize(b)
		if err != nil {
			return nil, fmt.Errorf("uvcsim: %s: %w", e.Name(), err)
		}
		if gw != w || gh != h {
			return nil, fmt.Errorf("uvcsim: %s: picture is %dx%d", e.Name(), gw, gh)
		}
		bySize[Size{w, h}] = append(bySize[Size{w, h}], named{n, b})
	}
	if len(bySize) == 0 {
		return nil, fmt.Errorf("uvcsim: no <w>x<h>-<n>.jpg in %s", dir)
	}
	out := map[Size][][]byte{}
	for s, l := range bySize {
		slices.SortFunc(l, func(a, b named) int { return a.n - b.n })
		for _, x := range l {
			out[s] = append(out[s], x.data)
		}
	}
	return out, nil
}

// JPEGSize checks the SOI and EOI markers of a JPEG and returns the size
// in its first frame header (SOF0..SOF2). It never panics.
func JPEGSize(b []byte) (w, h int, err error) {
	if len(b) < 4 || !bytes.HasPrefix(b, []byte{0xff, 0xd8}) {
		return 0, 0, fmt.Errorf("no SOI marker")
	}
	if !bytes.HasSuffix(b, []byte{0xff, 0xd9}) {
		return 0, 0, fmt.Errorf("no EOI marker at the end")
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return 0, 0, fmt.Errorf("no marker at offset %d", i)
		}
		m := b[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		l := int(b[i+2])<<8 | int(b[i+3])
		if l < 2 || i+2+l > len(b) {
			return 0, 0, fmt.Errorf("segment %#x at %d: bad length %d", m, i, l)
		}
		if m >= 0xc0 && m <= 0xc2 {
			if l < 8 {
				return 0, 0, fmt.Errorf("short frame header")
			}
			return int(b[i+7])<<8 | int(b[i+8]), int(b[i+5])<<8 | int(b[i+6]), nil
		}
		if m == 0xda {
			break
		}
		i += 2 + l
	}
	return 0, 0, fmt.Errorf("no frame header before the scan")
}
