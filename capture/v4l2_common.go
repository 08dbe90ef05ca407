// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// V4L2Config configures a V4L2 camera.
type V4L2Config struct {
	Device        string // /dev/videoN or /dev/v4l/by-id/...
	Width, Height int    // requested size; the driver may pick another
	FPS           int    // requested rate; the driver may pick another
	// Formats restricts the pixel formats that may be chosen (a filter,
	// not an order: Choose ranks by cost); nil means DefaultV4L2Formats,
	// every format camnode understands.
	Formats []PixelFormat
	// Can is what the node's outputs can show, for Choose; nil means
	// every format this build can handle (raw encoded, MJPEG when
	// HaveJPEGDecoder).
	Can     *Capabilities
	Buffers int // 2..4; 0 means 3
	// StallTimeout ends the stream with ErrLost when no frame arrives for
	// this long; 0 means 5s.
	StallTimeout time.Duration
	Logger       *slog.Logger
}

// DefaultV4L2Formats is the filter used when V4L2Config.Formats is empty:
// every format camnode understands.
var DefaultV4L2Formats = []PixelFormat{H264, MJPEG, YUYV, NV12, I420}

func (c V4L2Config) withDefaults() (V4L2Config, error) {
	if c.Device == "" {
		return c, errors.New("capture: V4L2: no device path")
	}
	if c.Width < 0 || c.Height < 0 || c.FPS < 0 || c.Width > 1<<15 || c.Height > 1<<15 || c.FPS > 1000 {
		return c, fmt.Errorf("capture: V4L2: bad size or rate %dx%d@%d", c.Width, c.Height, c.FPS)
	}
	switch {
	case c.Buffers == 0:
		c.Buffers = 3
	case c.Buffers < 2 || c.Buffers > 4:
		return c, fmt.Errorf("capture: V4L2: buffers %d not in 2..4", c.Buffers)
	}
	if len(c.Formats) == 0 {
		c.Formats = DefaultV4L2Formats
	}
	for _, f := range c.Formats {
		if fourccOf(f) == 0 {
			return c, fmt.Errorf("capture: V4L2: unknown pixel format %q", f)
		}
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c V4L2Config) capabilities() Capabilities {
	if c.Can != nil {
		return *c.Can
	}
	return Capabilities{Encode: true, DecodeMJPEG: HaveJPEGDecoder}
}

// fourcc builds a V4L2 pixel format code.
// ProbeInfo is what V4L2.Probe found.
type ProbeInfo struct {
	Driver, Card, Bus string
	Offered           []string      // pixel formats the driver lists (fourcc), in its order
	Modes             []FormatOffer // the modes it offers, by size and rate
	Choice            Choice        // what Choose picked among them
	Reason            string        // why
	Format            Format        // what Stream negotiates: the driver's answer, read back
	Audio             string        // as AudioStatus: "" when the device has no audio inputs
}

// String is one line for an installer.
func (p ProbeInfo) String() string {
	s := fmt.Sprintf("%s (%s, %s); offers %s", p.Card, p.Driver, p.Bus, strings.Join(p.Offered, " "))
	if p.Reason != "" {
		s += "; chose " + p.Reason
	}
	if p.Format.Width > 0 {
		s += "; would stream " + p.Format.String()
	}
	if p.Audio != "" {
		s += "; audio: " + p.Audio
	}
	return s
}

func fourcc(a, b, c, d byte) uint32 {
	return uint32(a) | uint32(b)<<8 | uint32(c)<<16 | uint32(d)<<24
}

// V4L2 pixel format codes of the formats camnode understands.
var (
	fccH264  = fourcc('H', '2', '6', '4')
	fccMJPEG = fourcc('M', 'J', 'P', 'G')
	fccJPEG  = fourcc('J', 'P', 'E', 'G')
	fccYUYV  = fourcc('Y', 'U', 'Y', 'V')
	fccNV12  = fourcc('N', 'V', '1', '2')
	fccI420  = fourcc('Y', 'U', '1', '2') // V4L2_PIX_FMT_YUV420
)

func fourccOf(p PixelFormat) uint32 {
	switch p {
	case H264:
		return fccH264
	case MJPEG:
		return fccMJPEG
	case YUYV:
		return fccYUYV
	case NV12:
		return fccNV12
	case I420:
		return fccI420
	}
	return 0
}

func pixelOf(code uint32) (PixelFormat, bool) {
	switch code {
	case fccH264:
		return H264, true
	case fccMJPEG, fccJPEG:
		return MJPEG, true
	case fccYUYV:
		return YUYV, true
	case fccNV12:
		return NV12, true
	case fccI420:
		return I420, true
	}
	return "", false
}

func fourccString(code uint32) string {
	be := code&(1<<31) != 0 // V4L2_PIX_FMT_FLAG_BE_ORDER ('-BE' formats)
	code &^= 1 << 31
	b := []byte{byte(code), byte(code >> 8), byte(code >> 16), byte(code >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	s := strings.TrimRight(string(b), " ")
	if be {
		s += "-BE"
	}
	return s
}

// pickFormat returns the first format of prefs that the driver offers, and
// the driver's code for it (MJPEG may be offered as JPEG).
func pickFormat(prefs []PixelFormat, offered []uint32) (PixelFormat, uint32, error) {
	for _, p := range prefs {
		for _, code := range offered {
			if q, ok := pixelOf(code); ok && q == p {
				return p, code, nil
			}
		}
	}
	names := make([]string, len(offered))
	for i, c := range offered {
		names[i] = fourccString(c)
	}
	return "", 0, fmt.Errorf("capture: V4L2: none of %v offered (driver lists %v)", prefs, names)
}

// packedStride returns the bytes per row of the first plane of a tightly
// packed raw frame, or 0 for compressed formats.
func packedStride(p PixelFormat, width int) int {
	switch p {
	case YUYV:
		return 2 * width
	case NV12, I420:
		return width
	}
	return 0
}

// repack copies a raw frame whose rows are stride bytes apart (stride of
// the first plane, as VIDIOC_G_FMT bytesperline) into dst, tightly packed.
// It returns the packed bytes, or false when src is too short.
func repack(dst, src []byte, f Format, stride int) ([]byte, bool) {
	w, h := f.Width, f.Height
	copyRows := func(dst, src []byte, rowLen, rows, stride int) ([]byte, []byte, bool) {
		if rows > 0 && (stride < rowLen || len(src) < (rows-1)*stride+rowLen) {
			return dst, src, false
		}
		for r := range rows {
			dst = append(dst, src[r*stride:r*stride+rowLen]...)
		}
		next := rows * stride
		if next > len(src) {
			next = len(src)
		}
		return dst, src[next:], true
	}
	dst = dst[:0]
	ok := true
	switch f.Pixel {
	case YUYV:
		dst, _, ok = copyRows(dst, src, 2*w, h, stride)
	case NV12:
		cw, ch := 2*((w+1)/2), (h+1)/2
		if dst, src, ok = copyRows(dst, src, w, h, stride); ok {
			dst, _, ok = copyRows(dst, src, cw, ch, stride)
		}
	case I420:
		cw, ch := (w+1)/2, (h+1)/2
		if dst, src, ok = copyRows(dst, src, w, h, stride); ok {
			if dst, src, ok = copyRows(dst, src, cw, ch, stride/2); ok {
				dst, _, ok = copyRows(dst, src, cw, ch, stride/2)
			}
		}
	default:
		return nil, false
	}
	return dst, ok
}

// seqCounter extends the driver's 32-bit sequence numbers to 64 bits and
// counts the frames missing between the ones delivered: a gap in the
// sequence is a frame the driver or the hardware dropped, or one the loop
// skipped to deliver the newest. Drops are a fact of real cameras (and of a
// loaded machine); they are counted and reported, never an error.
type seqCounter struct {
	started bool
	last    uint32
	high    uint64
	prev    uint64 // the last value next returned
	dropped uint64 // sequence numbers skipped between delivered frames
}

func (s *seqCounter) next(v uint32) uint64 {
	if s.started && v < s.last && s.last-v > 1<<31 {
		s.high += 1 << 32
	}
	cur := s.high | uint64(v)
	if s.started && cur > s.prev+1 {
		s.dropped += cur - s.prev - 1
	}
	s.started, s.last, s.prev = true, v, cur
	return cur
}
