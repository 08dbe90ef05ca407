// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package capture

/*
#cgo pkg-config: libturbojpeg
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

// cn_chroma_422_to_420 halves a chroma plane vertically: src holds rows
// rows of cw bytes, dst gets (rows+1)/2 rows, each the rounded-up mean of a
// pair of source rows (the last row alone when rows is odd). 4:2:0 chroma
// sits between two luma rows, so the mean, not every other row, is the
// right sample. Sixteen bytes at a time through GCC/Clang vector types (SSE2
// on amd64, NEON on arm64, whatever the optimisation level cgo builds
// with): about 8x the eight-bytes-at-a-time Go loop it replaced.
typedef unsigned char cn_v16 __attribute__((vector_size(16)));
static void cn_chroma_422_to_420(unsigned char *dst, const unsigned char *src, int cw, int rows) {
	for (int r = 0; r < rows / 2; r++) {
		const unsigned char *a = src + (size_t)2 * r * cw, *b = a + cw;
		unsigned char *d = dst + (size_t)r * cw;
		int c = 0;
		for (; c + 16 <= cw; c += 16) {
			cn_v16 x, y, z;
			memcpy(&x, a + c, 16);
			memcpy(&y, b + c, 16);
			z = (x | y) - ((x ^ y) >> 1); // per byte (x+y+1)>>1, no carries
			memcpy(d + c, &z, 16);
		}
		for (; c < cw; c++) d[c] = (unsigned char)((a[c] + b[c] + 1) >> 1);
	}
	if (rows % 2) memcpy(dst + (size_t)(rows / 2) * cw, src + (size_t)(rows - 1) * cw, cw);
}

// cn_tj_header reads the size, subsampling and colour space of a JPEG.
static int cn_tj_header(tjhandle h, const unsigned char *buf, unsigned long n,
		int *w, int *ht, int *ss, int *cs) {
	return tjDecompressHeader3(h, buf, n, w, ht, ss, cs);
}

// cn_tj_planes decodes a JPEG into three planes (one for greyscale) of the
// JPEG's own subsampling. Separate plane arguments, not an array, so that
// no Go memory holding Go pointers is passed to C. Warnings (a truncated
// frame, corrupt entropy data) stop the decoding and fail like errors.
static int cn_tj_planes(tjhandle h, const unsigned char *buf, unsigned long n,
		unsigned char *p0, unsigned char *p1, unsigned char *p2,
		int s0, int s1, int s2, int w, int ht) {
	unsigned char *planes[3] = {p0, p1, p2};
	int strides[3] = {s0, s1, s2};
	return tjDecompressToYUVPlanes(h, buf, n, planes, w, strides, ht,
		TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// HaveJPEGDecoder reports whether this build can decode MJPEG frames.
const HaveJPEGDecoder = true

// JPEGDecoder decodes MJPEG frames into I420 with libjpeg-turbo's TurboJPEG
// API. It holds one TurboJPEG handle and, for 4:2:2 frames, one scratch
// buffer for the full-height chroma; both are reused, so decoding a stream
// of frames of one size allocates nothing per frame.
//
// Decode calls on one decoder are serialised (the handle is not re-entrant);
// use one decoder per stream. Stats may be read from any goroutine.
type JPEGDecoder struct {
	mu      sync.Mutex
	h       C.tjhandle
	scratch []byte // 4:2:2 chroma, U then V, full height
	// hdr receives width, height, subsampling and colour space from
	// TurboJPEG: a field, not locals, because a Go pointer passed to C
	// makes its target escape, an allocation per frame.
	hdr [4]C.int
	// dht, dqt: the handle holds Huffman / quantisation tables that a
	// frame defined. libjpeg keeps tables from one image to the next (for
	// abbreviated streams), so a frame without DHT, as UVC cameras send,
	// would be decoded with the previous frame's tables instead of the
	// standard ones a fresh decoder implies: decode then starts from a
	// fresh handle (see reset).
	dht, dqt bool

	decoded, corrupt, unsupported atomic.Uint64
}

// NewJPEGDecoder returns a decoder. Close frees it.
func NewJPEGDecoder() (*JPEGDecoder, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, fmt.Errorf("capture: TurboJPEG: tjInitDecompress: %s", C.GoString(C.tjGetErrorStr2(nil)))
	}
	return &JPEGDecoder{h: h}, nil
}

// Decode decodes one JPEG into dst as an I420 picture of the JPEG's size:
// it sets dst.Format's Width, Height and Pixel (I420), leaves its other
// fields and dst.Seq, Time and Key alone, and reuses dst.Data when its
// capacity is large enough (it grows it otherwise). 4:2:0 frames are
// decoded straight into dst's planes; 4:2:2 frames decode their chroma into
// the decoder's scratch buffer and average row pairs into dst; greyscale
// frames get neutral chroma.
//
// A frame that is not a complete, valid JPEG (including a truncated one,
// which TurboJPEG reports only as a warning) returns an error wrapping
// ErrCorruptJPEG and TurboJPEG's message; a JPEG the decoder does not take
// (see ErrUnsupportedJPEG) returns an error wrapping ErrUnsupportedJPEG,
// before anything is allocated. On error dst's picture content is
// undefined (it may be partly decoded) and the frame is to be skipped.
func (d *JPEGDecoder) Decode(jpeg []byte, dst *Frame) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.decode(jpeg, dst)
	switch {
	case err == nil:
		d.decoded.Add(1)
	case errors.Is(err, ErrCorruptJPEG):
		d.corrupt.Add(1)
	case errors.Is(err, ErrUnsupportedJPEG):
		d.unsupported.Add(1)
	}
	return err
}

func (d *JPEGDecoder) decode(jpeg []byte, dst *Frame) error {
	if d.h == nil {
		return errors.New("capture: JPEG decoder is closed")
	}
	if dst == nil {
		return errors.New("capture: JPEG decoder: nil destination")
	}
	sof, err := checkJPEGMarkers(jpeg)
	if err != nil {
		return err
	}
	if (d.dht && !sof.hasDHT) || (d.dqt && !sof.hasDQT) {
		if err := d.reset(); err != nil {
			return err
		}
	}
	d.dht = d.dht || sof.hasDHT
	d.dqt = d.dqt || sof.hasDQT
	buf := (*C.uchar)(unsafe.Pointer(&jpeg[0]))
	n := C.ulong(len(jpeg))
	if C.cn_tj_header(d.h, buf, n, &d.hdr[0], &d.hdr[1], &d.hdr[2], &d.hdr[3]) != 0 {
		return d.tjError("header")
	}
	w, h, ss, cs := d.hdr[0], d.hdr[1], d.hdr[2], d.hdr[3]
	// TurboJPEG parsed the same header; agree with the pre-check so that
	// the limits hold for what is decoded.
	if int(w) != sof.width || int(h) != sof.height {
		return fmt.Errorf("%w: header says %dx%d, TurboJPEG %dx%d", ErrCorruptJPEG, sof.width, sof.height, w, h)
	}
	if cs != C.TJCS_YCbCr && cs != C.TJCS_GRAY {
		return fmt.Errorf("%w: colour space %d (only YCbCr and greyscale)", ErrUnsupportedJPEG, int(cs))
	}
	wi, hi := int(w), int(h)
	cw := (wi + 1) / 2
	switch ss {
	case C.TJSAMP_420:
		py, pu, pv := sizeI420(dst, wi, hi)
		return d.planes(buf, n, py, pu, pv, wi, cw, wi, hi)
	case C.TJSAMP_422:
		py, pu, pv := sizeI420(dst, wi, hi)
		if cap(d.scratch) < 2*cw*hi {
			d.scratch = make([]byte, 2*cw*hi)
		}
		su, sv := d.scratch[:cw*hi], d.scratch[cw*hi:2*cw*hi]
		if err := d.planes(buf, n, py, su, sv, wi, cw, wi, hi); err != nil {
			return err
		}
		chroma422To420(pu, su, cw, hi)
		chroma422To420(pv, sv, cw, hi)
		return nil
	case C.TJSAMP_GRAY:
		py, pu, pv := sizeI420(dst, wi, hi)
		if err := d.planes(buf, n, py, nil, nil, wi, 0, wi, hi); err != nil {
			return err
		}
		fill(pu, 128)
		fill(pv, 128)
		return nil
	}
	return fmt.Errorf("%w: chroma subsampling %s (only 4:2:0, 4:2:2 and greyscale)", ErrUnsupportedJPEG, tjSampName(ss))
}

// planes runs TurboJPEG's decoder into the given planes (u, v nil for
// greyscale) with luma stride ys and chroma stride cs.
func (d *JPEGDecoder) planes(buf *C.uchar, n C.ulong, y, u, v []byte, ys, cs, w, h int) error {
	var pu, pv *C.uchar
	if u != nil {
		pu = (*C.uchar)(unsafe.Pointer(&u[0]))
		pv = (*C.uchar)(unsafe.Pointer(&v[0]))
	}
	r := C.cn_tj_planes(d.h, buf, n, (*C.uchar)(unsafe.Pointer(&y[0])), pu, pv,
		C.int(ys), C.int(cs), C.int(cs), C.int(w), C.int(h))
	// The buffers are Go memory; keep them alive across the call (they are
	// referenced only through unsafe pointers above).
	runtime.KeepAlive(y)
	runtime.KeepAlive(u)
	runtime.KeepAlive(v)
	if r != 0 {
		return d.tjError("decode")
	}
	return nil
}

// tjError reports the handle's last error. Every TurboJPEG failure on input
// that passed the pre-check is a corrupt frame: a warning (truncated data,
// which libjpeg would otherwise pad with grey) as much as an error.
//
// It then resets the handle: TurboJPEG 2.1 leaves a handle whose header
// parse failed half-way in a state where the next, valid, frame fails too
// (TestJPEGDecode's "Huffman table destroyed" case followed by a good frame
// shows it).
func (d *JPEGDecoder) tjError(op string) error {
	kind := "error"
	if C.tjGetErrorCode(d.h) == C.TJERR_WARNING {
		kind = "warning"
	}
	err := fmt.Errorf("%w: TurboJPEG %s %s: %s", ErrCorruptJPEG, op, kind, C.GoString(C.tjGetErrorStr2(d.h)))
	d.reset()
	return err
}

// reset replaces the TurboJPEG handle by a fresh one, with no tables and
// no state from earlier frames. It costs a few C allocations (no Go ones).
// If no handle can be made the decoder is left closed and says so.
func (d *JPEGDecoder) reset() error {
	C.tjDestroy(d.h)
	d.dht, d.dqt = false, false
	if d.h = C.tjInitDecompress(); d.h == nil {
		return errors.New("capture: JPEG decoder: tjInitDecompress failed; decoder closed")
	}
	return nil
}

// Stats returns the decoder's counters.
func (d *JPEGDecoder) Stats() JPEGStats {
	return JPEGStats{Decoded: d.decoded.Load(), Corrupt: d.corrupt.Load(), Unsupported: d.unsupported.Load()}
}

// Close frees the TurboJPEG handle. Decode after Close returns an error.
func (d *JPEGDecoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h != nil {
		C.tjDestroy(d.h)
		d.h = nil
	}
	d.scratch = nil
	return nil
}

// chroma422To420 halves a chroma plane vertically (see
// cn_chroma_422_to_420): src holds srcRows rows of cw bytes, dst gets
// (srcRows+1)/2 rows. It does not allocate.
func chroma422To420(dst, src []byte, cw, srcRows int) {
	if cw <= 0 || srcRows <= 0 || len(src) < cw*srcRows || len(dst) < cw*((srcRows+1)/2) {
		panic("capture: chroma422To420: bad plane sizes")
	}
	C.cn_chroma_422_to_420((*C.uchar)(unsafe.Pointer(&dst[0])), (*C.uchar)(unsafe.Pointer(&src[0])), C.int(cw), C.int(srcRows))
	runtime.KeepAlive(dst)
	runtime.KeepAlive(src)
}

func tjSampName(ss C.int) string {
	switch ss {
	case C.TJSAMP_444:
		return "4:4:4"
	case C.TJSAMP_440:
		return "4:4:0"
	case C.TJSAMP_411:
		return "4:1:1"
	}
	return fmt.Sprintf("unknown (%d)", int(ss))
}
