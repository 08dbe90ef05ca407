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
	"sync/atomic"
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
// served in turn (frame n is JPEG[size][n mod len]). With SetCorruptEvery
// some MJPEG frames are served damaged, as real webcams send them now and
// then.
type Pictures struct {
	JPEG map[Size][][]byte

	corruptEvery atomic.Uint64
	corruptSent  atomic.Uint64

	mu        sync.Mutex
	patterns  map[Size]*capture.TestPattern
	corrupted map[corruptKey][]byte
}

type corruptKey struct {
	size Size
	i    int
	c    Corruption
}

// SetCorruptEvery makes every n-th MJPEG frame of a stream (frames n-1,
// 2n-1, ...) corrupt, the damage cycling through Truncated, Garbled and
// NoEOI; 0 (the default) serves every frame intact. Safe while streaming.
func (p *Pictures) SetCorruptEvery(n uint64) { p.corruptEvery.Store(n) }

// CorruptSent returns how many corrupt frames Frame has served.
func (p *Pictures) CorruptSent() uint64 { return p.corruptSent.Load() }

// Frame implements FrameSource.
func (p *Pictures) Frame(f Negotiated, n uint64, t time.Time) []byte {
	switch f.Pixel {
	case capture.MJPEG:
		js := p.JPEG[f.Size]
		if len(js) == 0 {
			return nil
		}
		i := int(n % uint64(len(js)))
		every := p.corruptEvery.Load()
		if every == 0 || n%every != every-1 {
			return js[i]
		}
		k := corruptKey{f.Size, i, Corruption((n / every) % uint64(numCorruptions))}
		p.mu.Lock()
		defer p.mu.Unlock()
		b, ok := p.corrupted[k]
		if !ok {
			b = Corrupt(js[i], k.c)
			if p.corrupted == nil {
				p.corrupted = map[corruptKey][]byte{}
			}
			p.corrupted[k] = b
		}
		p.corruptSent.Add(1)
		return b
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

// Corruption is a way a webcam's JPEG frame arrives damaged.
type Corruption int

const (
	// Truncated: the second half of the frame is lost (a short transfer).
	Truncated Corruption = iota
	// Garbled: garbage in the entropy-coded data (bytes overwritten by a
	// stray EOI marker and noise, as a bit error on the bus makes them).
	Garbled
	// NoEOI: the frame ends without its EOI marker.
	NoEOI
	numCorruptions
)

func (c Corruption) String() string {
	switch c {
	case Truncated:
		return "truncated"
	case Garbled:
		return "garbled"
	case NoEOI:
		return "no EOI"
	}
	return fmt.Sprintf("Corruption(%d)", int(c))
}

// Corrupt returns a damaged copy of jpeg (jpeg itself is not changed).
// Garbled overwrites 32 bytes in the middle of the data after the first
// start-of-scan marker (or of the whole frame when it has none).
func Corrupt(jpeg []byte, c Corruption) []byte {
	switch c {
	case Truncated:
		return bytes.Clone(jpeg[:len(jpeg)/2])
	case NoEOI:
		if bytes.HasSuffix(jpeg, []byte{0xff, 0xd9}) {
			return bytes.Clone(jpeg[:len(jpeg)-2])
		}
		return bytes.Clone(jpeg)
	case Garbled:
		b := bytes.Clone(jpeg)
		start := bytes.Index(b, []byte{0xff, 0xda})
		if start < 0 {
			start = 0
		}
		at := start + (len(b)-start)/2
		garbage := []byte{0xff, 0xd9, 0x00, 0xff, 0xa5, 0x5a, 0xff, 0xc4}
		for i := 0; i < 32 && at+i < len(b)-2; i++ {
			b[at+i] = garbage[i%len(garbage)]
		}
		return b
	}
	return bytes.Clone(jpeg)
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
