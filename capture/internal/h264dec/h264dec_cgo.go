// SPDX-License-Identifier: Apache-2.0

//go:build cgo

package h264dec

/*
#cgo pkg-config: --static openh264
#include <string.h>
#include <wels/codec_api.h>

static ISVCDecoder *cn_dec_open(void) {
	ISVCDecoder *d = NULL;
	if (WelsCreateDecoder(&d) != 0 || d == NULL) return NULL;
	SDecodingParam p;
	memset(&p, 0, sizeof p);
	p.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
	p.eEcActiveIdc = ERROR_CON_DISABLE; // a broken picture is an error, not concealed
	if ((*d)->Initialize(d, &p) != 0) {
		WelsDestroyDecoder(d);
		return NULL;
	}
	return d;
}

static void cn_dec_close(ISVCDecoder *d) {
	(*d)->Uninitialize(d);
	WelsDestroyDecoder(d);
}

// cn_decode decodes one access unit; *y is set to the luma plane of a
// finished picture (valid until the next call) or NULL.
static int cn_decode(ISVCDecoder *d, const unsigned char *au, int n, unsigned char **y,
		int *stride, int *w, int *h) {
	unsigned char *planes[3] = {0};
	SBufferInfo info;
	memset(&info, 0, sizeof info);
	int rc = (*d)->DecodeFrameNoDelay(d, au, n, planes, &info);
	*y = NULL;
	if (rc == 0 && info.iBufferStatus == 1) {
		*y = planes[0];
		*stride = info.UsrData.sSystemBuffer.iStride[0];
		*w = info.UsrData.sSystemBuffer.iWidth;
		*h = info.UsrData.sSystemBuffer.iHeight;
	}
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Decoder is one OpenH264 decoder. Not safe for concurrent use.
type Decoder struct{ d *C.ISVCDecoder }

// New makes a decoder.
func New() (*Decoder, error) {
	d := C.cn_dec_open()
	if d == nil {
		return nil, errors.New("h264dec: OpenH264 decoder did not open")
	}
	return &Decoder{d: d}, nil
}

// Picture is a decoded picture's luma plane. Y is valid until the next
// Decode.
type Picture struct {
	Y                     []byte
	Stride, Width, Height int
}

// Decode decodes one access unit (Annex-B). ok reports whether a picture
// came out; err whether the decoder reported an error (a broken stream).
func (d *Decoder) Decode(au []byte) (pic Picture, ok bool, err error) {
	if len(au) == 0 {
		return pic, false, errors.New("h264dec: empty access unit")
	}
	var y *C.uchar
	var stride, w, h C.int
	rc := C.cn_decode(d.d, (*C.uchar)(unsafe.Pointer(&au[0])), C.int(len(au)), &y, &stride, &w, &h)
	if rc != 0 {
		return pic, false, fmt.Errorf("h264dec: decoding state %#x", int(rc))
	}
	if y == nil {
		return pic, false, nil
	}
	pic = Picture{Y: unsafe.Slice((*byte)(unsafe.Pointer(y)), int(stride)*int(h)),
		Stride: int(stride), Width: int(w), Height: int(h)}
	return pic, true, nil
}

// Close frees the decoder.
func (d *Decoder) Close() {
	if d.d != nil {
		C.cn_dec_close(d.d)
		d.d = nil
	}
}
