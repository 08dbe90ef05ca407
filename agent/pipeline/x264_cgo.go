// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package pipeline

/*
#cgo pkg-config: x264
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <x264.h>

static x264_t *cn_open(int w, int h, int csp, int fps, int kbps, int keyint, int fullrange) {
	x264_param_t p;
	if (x264_param_default_preset(&p, "ultrafast", "zerolatency") < 0) return NULL;
	p.i_threads = 1;
	p.b_sliced_threads = 0;
	p.i_lookahead_threads = 1;
	p.i_width = w;
	p.i_height = h;
	p.i_csp = csp;
	p.i_fps_num = fps;
	p.i_fps_den = 1;
	p.i_timebase_num = 1;
	p.i_timebase_den = fps;
	p.i_keyint_max = keyint;
	// Decoded JPEG (JFIF) is full range; without the VUI flag a decoder
	// assumes limited range and shows crushed blacks and whites.
	p.vui.b_fullrange = fullrange;
	p.b_repeat_headers = 1;
	p.b_annexb = 1;
	p.i_log_level = X264_LOG_NONE;
	p.rc.i_rc_method = X264_RC_ABR;
	p.rc.i_bitrate = kbps;
	p.rc.i_vbv_max_bitrate = kbps;
	p.rc.i_vbv_buffer_size = kbps / 2 > 0 ? kbps / 2 : 1;
	if (x264_param_apply_profile(&p, "baseline") < 0) return NULL;
	return x264_encoder_open(&p);
}

// cn_encode encodes one picture whose planes are given; on success *out
// points at the frame's NAL units (Annex-B, contiguous in x264's buffer,
// valid until the next call) and the return value is their total size.
static int cn_encode(x264_t *e, int csp, int w, int h, uint8_t *p0, uint8_t *p1, uint8_t *p2,
		int force_key, int64_t pts, uint8_t **out) {
	x264_picture_t in, pic_out;
	x264_picture_init(&in);
	in.img.i_csp = csp;
	in.i_pts = pts;
	in.i_type = force_key ? X264_TYPE_IDR : X264_TYPE_AUTO;
	if (csp == X264_CSP_I420) {
		in.img.i_plane = 3;
		in.img.plane[0] = p0; in.img.i_stride[0] = w;
		in.img.plane[1] = p1; in.img.i_stride[1] = (w + 1) / 2;
		in.img.plane[2] = p2; in.img.i_stride[2] = (w + 1) / 2;
	} else {
		in.img.i_plane = 2;
		in.img.plane[0] = p0; in.img.i_stride[0] = w;
		in.img.plane[1] = p1; in.img.i_stride[1] = w;
	}
	x264_nal_t *nals;
	int n = 0;
	int size = x264_encoder_encode(e, &nals, &n, &in, &pic_out);
	if (size > 0 && n > 0) *out = nals[0].p_payload;
	return size;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/camnode/camnode/capture"
)

// x264Encoder is libx264 (ultrafast, zerolatency, baseline, one thread).
type x264Encoder struct {
	e    *C.x264_t
	w, h int
	csp  C.int
	pts  int64
	// out receives the pointer to x264's output: a field, not a local,
	// because a Go pointer passed to C makes its target escape, which
	// was one allocation per frame.
	out *C.uint8_t
}

// HaveEncoder reports whether this build can encode raw frames.
const HaveEncoder = true

// NewEncoder opens libx264 for pictures of format f (I420 or NV12; YUYV is
// accepted and means I420, as the pipeline converts it first) at fps frames
// per second and kbps, with an IDR at least every keyint frames; fullRange
// sets the VUI full-range flag (decoded JPEG).
func NewEncoder(f capture.Format, fps, kbps, keyint int, fullRange bool) (Encoder, error) {
	var csp C.int
	switch f.Pixel {
	case capture.I420, capture.YUYV: // YUYV is converted to I420 first
		csp = C.X264_CSP_I420
	case capture.NV12:
		csp = C.X264_CSP_NV12
	default:
		return nil, fmt.Errorf("pipeline: x264: cannot encode %s frames", f.Pixel)
	}
	if f.Width%2 != 0 || f.Height%2 != 0 || f.Width < 16 || f.Height < 16 {
		return nil, fmt.Errorf("pipeline: x264: %dx%d: want even dimensions of at least 16", f.Width, f.Height)
	}
	if keyint < 1 {
		keyint = 1
	}
	fr := C.int(0)
	if fullRange {
		fr = 1
	}
	e := C.cn_open(C.int(f.Width), C.int(f.Height), csp, C.int(fps), C.int(kbps), C.int(keyint), fr)
	if e == nil {
		return nil, errors.New("pipeline: x264: encoder_open failed")
	}
	return &x264Encoder{e: e, w: f.Width, h: f.Height, csp: csp}, nil
}

// Encode encodes one I420 or NV12 picture (tightly packed) and appends the
// access unit, Annex-B, to dst.
func (x *x264Encoder) Encode(dst, pic []byte, key bool) ([]byte, error) {
	ys := x.w * x.h
	cs := ((x.w + 1) / 2) * ((x.h + 1) / 2)
	if len(pic) < ys+2*cs {
		return dst, errors.New("pipeline: x264: short picture")
	}
	p0 := (*C.uint8_t)(unsafe.Pointer(&pic[0]))
	p1 := (*C.uint8_t)(unsafe.Pointer(&pic[ys]))
	p2 := (*C.uint8_t)(unsafe.Pointer(&pic[ys+cs]))
	fk := C.int(0)
	if key {
		fk = 1
	}
	x.out = nil
	n := C.cn_encode(x.e, x.csp, C.int(x.w), C.int(x.h), p0, p1, p2, fk, C.int64_t(x.pts), &x.out)
	x.pts++
	if n < 0 {
		return dst, errors.New("pipeline: x264: encode failed")
	}
	if n == 0 || x.out == nil {
		return dst, nil
	}
	return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(x.out)), int(n))...), nil
}

// Close frees the encoder.
func (x *x264Encoder) Close() {
	if x.e != nil {
		C.x264_encoder_close(x.e)
		x.e = nil
	}
}
