// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jpegStampTime is the capture time testdata/jpeg/rawframe stamps.
var jpegStampTime = time.UnixMicro(1_790_000_000_000_000)

// jpegCase is one input of the decoder: a real frame from testdata/jpeg
// (see its README.md), or a broken copy of one made here.
type jpegCase struct {
	name string
	data func(tb testing.TB) []byte
	// want: nil for a frame that decodes (then w, h and seq: the size and
	// the stamp read back from the decoded luma; seq < 0: no stamp check),
	// else the error it must wrap.
	want    error
	w, h    int
	seq     int
	message string // a substring the error must contain, if set
}

func readJPEG(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "jpeg", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func jpegFile(name string) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return readJPEG(tb, name) }
}

// edited returns a copy of a real frame changed by f.
func jpegEdited(name string, f func([]byte) []byte) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return f(bytes.Clone(readJPEG(tb, name))) }
}

// sofOffset returns the offset of the SOF0 marker of a frame.
func sofOffset(b []byte) int { return bytes.Index(b, []byte{0xFF, 0xC0}) }

// sosEnd returns the offset of the entropy-coded data: just after the SOS
// segment.
func sosEnd(b []byte) int {
	i := bytes.Index(b, []byte{0xFF, 0xDA})
	return i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
}

// goJPEG returns a grey w x h JPEG (4:2:0) made by Go's image/jpeg.
func goJPEG(w, h int) func(testing.TB) []byte {
	return func(tb testing.TB) []byte {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for i := range img.Y {
			img.Y[i] = 100
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, nil); err != nil {
			tb.Fatal(err)
		}
		return b.Bytes()
	}
}

// stripDHT removes the Huffman table segments of a frame.
func stripDHT(b []byte) []byte {
	out := b[:2]
	for i := 2; i+4 <= len(b) && b[i] == 0xFF; {
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if b[i+1] == 0xDA { // SOS: the rest is entropy data
			return append(out, b[i:]...)
		}
		if b[i+1] != 0xC4 {
			out = append(out, b[i:i+2+n]...)
		}
		i += 2 + n
	}
	return out
}

var jpegCases = []jpegCase{
	// Real frames, as webcams send them: 4:2:2 and 4:2:0 (ffmpeg), plus
	// greyscale (cjpeg). The noisy ones are as large as a real scene's.
	{name: "640x480 4:2:2", data: jpegFile("640x480-422.jpg"), w: 640, h: 480, seq: 7},
	{name: "640x480 4:2:0", data: jpegFile("640x480-420.jpg"), w: 640, h: 480, seq: 8},
	{name: "1280x720 4:2:2", data: jpegFile("1280x720-422.jpg"), w: 1280, h: 720, seq: 9},
	{name: "640x480 4:2:2 noisy", data: jpegFile("640x480-422-noisy.jpg"), w: 640, h: 480, seq: 10},
	{name: "1280x720 4:2:2 noisy", data: jpegFile("1280x720-422-noisy.jpg"), w: 1280, h: 720, seq: 11},
	{name: "1280x720 4:2:0 noisy", data: jpegFile("1280x720-420-noisy.jpg"), w: 1280, h: 720, seq: 12},
	{name: "640x480 grey", data: jpegFile("640x480-grey.jpg"), w: 640, h: 480, seq: 13},
	// UVC cameras leave the Huffman tables out (the standard ones are
	// implied, as in AVI1 Motion-JPEG).
	{name: "no DHT, as UVC cameras send", data: jpegEdited("640x480-422-stdhuff.jpg", stripDHT), w: 640, h: 480, seq: 15},
	{name: "with the standard DHT", data: jpegFile("640x480-422-stdhuff.jpg"), w: 640, h: 480, seq: 15},
	// UVC bulk cameras pad frames after EOI.
	{name: "padding after EOI", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte {
		return append(b, make([]byte, 4096)...)
	}), w: 640, h: 480, seq: 7},

	// Truncated frames (TurboJPEG reports most as a warning).
	{name: "truncated to half", data: jpegEdited("640x480-422-noisy.jpg", func(b []byte) []byte { return b[:len(b)/2] }),
		want: ErrCorruptJPEG, message: "warning"},
	{name: "truncated 720p", data: jpegEdited("1280x720-422-noisy.jpg", func(b []byte) []byte { return b[:len(b)*9/10] }),
		want: ErrCorruptJPEG},
	{name: "truncated 4:2:0", data: jpegEdited("640x480-420.jpg", func(b []byte) []byte { return b[:len(b)-200] }),
		want: ErrCorruptJPEG},
	{name: "no EOI", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte { return b[:len(b)-2] }),
		want: ErrCorruptJPEG},
	{name: "headers only", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte { return b[:sosEnd(b)] }),
		want: ErrCorruptJPEG},
	{name: "cut in the frame header", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte { return b[:sofOffset(b)+6] }),
		want: ErrCorruptJPEG},
	{name: "SOI only", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte { return b[:2] }), want: ErrCorruptJPEG},
	{name: "empty", data: func(testing.TB) []byte { return []byte{} }, want: ErrCorruptJPEG},
	{name: "nil", data: func(testing.TB) []byte { return nil }, want: ErrCorruptJPEG},
	{name: "not a JPEG", data: func(testing.TB) []byte { return []byte("GIF89a, certainly not a JPEG frame") }, want: ErrCorruptJPEG},

	// Corrupted frames.
	{name: "entropy data overwritten with a marker", data: jpegEdited("640x480-422-noisy.jpg", func(b []byte) []byte {
		i := sosEnd(b) + 1000
		copy(b[i:], []byte{0xFF, 0xD9, 0xFF, 0xD8})
		return b
	}), want: ErrCorruptJPEG},
	{name: "Huffman table destroyed", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte {
		i := bytes.Index(b, []byte{0xFF, 0xC4})
		for j := i + 5; j < i+21; j++ {
			b[j] = 0xFF // code counts that overflow the table
		}
		return b
	}), want: ErrCorruptJPEG},
	{name: "zero width", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[sofOffset(b)+7:], 0)
		return b
	}), want: ErrCorruptJPEG},
	{name: "segment length 0", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[4:], 0) // the APP0/first segment after SOI
		return b
	}), want: ErrCorruptJPEG},

	// Valid JPEGs the decoder refuses before allocating.
	{name: "larger than the limit", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[sofOffset(b)+5:], 30000) // height
		binary.BigEndian.PutUint16(b[sofOffset(b)+7:], 30000) // width
		return b
	}), want: ErrUnsupportedJPEG, message: "30000x30000"},
	{name: "wider than the limit", data: jpegEdited("640x480-422.jpg", func(b []byte) []byte {
		binary.BigEndian.PutUint16(b[sofOffset(b)+7:], 4097)
		return b
	}), want: ErrUnsupportedJPEG},
	// Real (Go's image/jpeg) JPEGs at and above the limit.
	{name: "4096x16, the widest", data: goJPEG(4096, 16), w: 4096, h: 16, seq: -1},
	{name: "16x4096, the highest", data: goJPEG(16, 4096), w: 16, h: 4096, seq: -1},
	{name: "4097x16, real", data: goJPEG(4097, 16), want: ErrUnsupportedJPEG, message: "4097x16"},
	{name: "16x4097, real", data: goJPEG(16, 4097), want: ErrUnsupportedJPEG, message: "16x4097"},
	{name: "progressive", data: jpegFile("640x480-grey-progressive.jpg"), want: ErrUnsupportedJPEG, message: "SOF2"},
	{name: "4:4:4", data: jpegFile("640x480-444.jpg"), want: ErrUnsupportedJPEG, message: "4:4:4"},
}

func TestJPEGDecode(t *testing.T) {
	d, err := NewJPEGDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var dst Frame
	var want JPEGStats
	for _, c := range jpegCases {
		data := c.data(t)
		err := d.Decode(data, &dst)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: got error %v, want %v", c.name, err, c.want)
		case c.want != nil && !strings.Contains(err.Error(), c.message):
			t.Errorf("%s: error %q does not say %q", c.name, err, c.message)
		case c.want == nil:
			if dst.Format.Width != c.w || dst.Format.Height != c.h || dst.Format.Pixel != I420 || len(dst.Data) != dst.Format.FrameSize() {
				t.Errorf("%s: decoded %v with %d bytes, want %dx%d I420", c.name, dst.Format, len(dst.Data), c.w, c.h)
				break
			}
			if c.seq < 0 {
				break
			}
			seq, ts, ok := ReadFrameStamp(&dst)
			if !ok || int(seq) != c.seq || !ts.Equal(jpegStampTime) {
				t.Errorf("%s: stamp %d %v %v, want %d %v", c.name, seq, ts, ok, c.seq, jpegStampTime)
			}
			checkNeutralChroma(t, c.name, &dst)
			if strings.Contains(c.name, "grey") {
				if chroma := dst.Data[c.w*c.h:]; !bytes.Equal(chroma, bytes.Repeat([]byte{128}, len(chroma))) {
					t.Errorf("%s: chroma is not neutral", c.name)
				}
			}
		}
		switch {
		case c.want == nil:
			want.Decoded++
		case errors.Is(c.want, ErrCorruptJPEG):
			want.Corrupt++
		case errors.Is(c.want, ErrUnsupportedJPEG):
			want.Unsupported++
		}
	}
	if got := d.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// checkNeutralChroma checks the chroma under the stamp band, which the
// stamp set to neutral (128): a wrong chroma layout or a bad 4:2:2 -> 4:2:0
// step shows there. JPEG's ringing leaves a few levels of error, the noisy
// frames' noise some more.
func checkNeutralChroma(t *testing.T, name string, f *Frame) {
	t.Helper()
	w, h := f.Format.Width, f.Format.Height
	cw, ch := (w+1)/2, (h+1)/2
	tol := 6
	if strings.Contains(name, "noisy") {
		tol = 16
	}
	for p, plane := range [][]byte{f.Data[w*h : w*h+cw*ch], f.Data[w*h+cw*ch:]} {
		// Away from the band's edges.
		for y := 2; y < StampHeight/2-2; y++ {
			for x := 2; x < StampWidth/2-2; x++ {
				if v := int(plane[y*cw+x]); v < 128-tol || v > 128+tol {
					t.Errorf("%s: chroma plane %d at (%d,%d) = %d, want about 128", name, p, x, y, v)
					return
				}
			}
		}
	}
	// And the colour bars below the band are not neutral: the chroma is
	// really there: the second of the eight bars (the top three quarters of
	// the picture), yellow, has U far below 128. Sampled in its middle, at
	// 5/8 of the height, below the moving box.
	u := f.Data[w*h:]
	if v := u[(ch*5/8)*cw+cw*3/16]; v > 100 && !strings.Contains(name, "grey") {
		t.Errorf("%s: U of the yellow bar = %d, want well below 128", name, v)
	}
	// Below the bars, the luma ramp has neutral chroma: the chroma rows are
	// where they belong (a 4:2:2 chroma plane cut instead of halved would
	// put the bars here).
	if v := int(u[(ch*7/8)*cw+cw*3/16]); v < 128-tol || v > 128+tol {
		t.Errorf("%s: U under the ramp = %d, want about 128", name, v)
	}
}

// TestJPEGDecodeRecovers: a corrupt frame between good ones costs that frame
// only; the decoder and the destination are fine for the next one.
func TestJPEGDecodeRecovers(t *testing.T) {
	d, err := NewJPEGDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	good := readJPEG(t, "1280x720-422-noisy.jpg")
	bad := good[:len(good)/3]
	var dst Frame
	for i := range 3 {
		if err := d.Decode(bad, &dst); !errors.Is(err, ErrCorruptJPEG) {
			t.Fatalf("round %d: truncated frame: %v", i, err)
		}
		if err := d.Decode(good, &dst); err != nil {
			t.Fatalf("round %d: good frame after a corrupt one: %v", i, err)
		}
		if seq, _, ok := ReadFrameStamp(&dst); !ok || seq != 11 {
			t.Fatalf("round %d: stamp %d %v after a corrupt frame", i, seq, ok)
		}
	}
	if s := d.Stats(); s.Corrupt != 3 || s.Decoded != 3 {
		t.Errorf("Stats() = %+v, want 3 decoded and 3 corrupt", s)
	}
}

func TestJPEGDecodeClosed(t *testing.T) {
	d, err := NewJPEGDecoder()
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d.Close()
	if err := d.Decode(readJPEG(t, "640x480-422.jpg"), &Frame{}); err == nil {
		t.Error("Decode after Close succeeded")
	}
	if err := (&JPEGDecoder{}).Decode(nil, nil); err == nil {
		t.Error("Decode into nil succeeded")
	}
}

// TestJPEGDecodeAllocs: decoding a stream of frames of one size allocates
// nothing per frame once the destination and the scratch buffer have grown.
// The decoder uses no sync.Pool, so this holds under -race too.
func TestJPEGDecodeAllocs(t *testing.T) {
	d, err := NewJPEGDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for name, data := range map[string]func(testing.TB) []byte{
		"640x480 4:2:2":     jpegFile("640x480-422-noisy.jpg"),
		"640x480 4:2:0":     jpegFile("640x480-420.jpg"),
		"1280x720 4:2:2":    jpegFile("1280x720-422-noisy.jpg"),
		"1280x720 4:2:0":    jpegFile("1280x720-420-noisy.jpg"),
		"640x480 grey":      jpegFile("640x480-grey.jpg"),
		"640x480 UVC style": jpegEdited("640x480-422-stdhuff.jpg", stripDHT),
	} {
		jpeg := data(t)
		var dst Frame
		if err := d.Decode(jpeg, &dst); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(20, func() {
			if err := d.Decode(jpeg, &dst); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", name, n)
		}
	}
}

// FuzzJPEGDecode: whatever the bytes, Decode never panics, returns either
// a picture that fits its buffer or ErrCorruptJPEG / ErrUnsupportedJPEG,
// and writes nothing past the destination's buffer.
func FuzzJPEGDecode(f *testing.F) {
	for _, c := range jpegCases {
		f.Add(c.data(f))
	}
	d, err := NewJPEGDecoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	f.Fuzz(func(t *testing.T, jpeg []byte) {
		var dst Frame
		err := d.Decode(jpeg, &dst)
		if err != nil {
			if !errors.Is(err, ErrCorruptJPEG) && !errors.Is(err, ErrUnsupportedJPEG) {
				t.Fatalf("error %v is neither corrupt nor unsupported", err)
			}
			return
		}
		w, h := dst.Format.Width, dst.Format.Height
		if w < 1 || h < 1 || w > MaxJPEGWidth || h > MaxJPEGHeight || dst.Format.Pixel != I420 || len(dst.Data) != dst.Format.FrameSize() {
			t.Fatalf("decoded %v into %d bytes", dst.Format, len(dst.Data))
		}
		// Again into a buffer of exactly that size followed by a guard
		// zone: the decoder must use the buffer, and stay inside it.
		const guard = 4096
		n := len(dst.Data)
		back := bytes.Repeat([]byte{0xA5}, n+guard)
		dst = Frame{Data: back[:0:n]}
		if err := d.Decode(jpeg, &dst); err != nil {
			t.Fatalf("second decode: %v", err)
		}
		if &dst.Data[0] != &back[0] {
			t.Fatal("decoder did not reuse a buffer large enough")
		}
		for i, b := range back[n:] {
			if b != 0xA5 {
				t.Fatalf("decoder wrote %d bytes past a %d-byte buffer", i+1, n)
			}
		}
	})
}
