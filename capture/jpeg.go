// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MJPEG decoding: a JPEGDecoder (jpeg_cgo.go, libjpeg-turbo's TurboJPEG API;
// jpeg_stub.go without cgo) turns one MJPEG frame into an I420 picture, the
// format the pipeline's encoder takes, in a Frame the caller owns and
// reuses. This file holds what both builds share: the errors, the limits
// and the pre-check of the JPEG markers.

// Limits on the JPEGs a JPEGDecoder accepts. They are checked from the
// header, before anything is allocated or decoded.
const (
	// MaxJPEGWidth and MaxJPEGHeight bound the picture size. 4096x4096 is
	// above every USB webcam mode and keeps the buffers of one decoder
	// below 48 MiB.
	MaxJPEGWidth  = 4096
	MaxJPEGHeight = 4096
)

// Errors returned by JPEGDecoder.Decode. Each is wrapped with the detail
// (TurboJPEG's own message where it gave one); test with errors.Is.
var (
	// ErrCorruptJPEG: the frame is not a complete, valid JPEG (truncated,
	// corrupt entropy data, bad markers, empty). Webcams send such frames
	// now and then; the frame is to be skipped and counted.
	ErrCorruptJPEG = errors.New("capture: corrupt JPEG")
	// ErrUnsupportedJPEG: a valid JPEG the decoder does not take: larger
	// than MaxJPEGWidth x MaxJPEGHeight, progressive, arithmetic-coded or
	// lossless, a colour space other than YCbCr or greyscale, or a chroma
	// subsampling other than 4:2:0, 4:2:2 and greyscale (4:4:4, 4:4:0,
	// 4:1:1 are refused, not converted: no webcam mode we know sends them).
	ErrUnsupportedJPEG = errors.New("capture: unsupported JPEG")
	// ErrNoJPEGDecoder: this build has no JPEG decoder (built without cgo
	// or without libturbojpeg); it wraps ErrUnsupported.
	ErrNoJPEGDecoder = fmt.Errorf("capture: MJPEG needs the cgo build (linux, CGO_ENABLED=1) with libturbojpeg (Debian libturbojpeg0-dev): %w", ErrUnsupported)
)

// JPEGStats counts what a JPEGDecoder did since it was made.
type JPEGStats struct {
	Decoded     uint64 // frames decoded into the destination
	Corrupt     uint64 // frames refused with ErrCorruptJPEG
	Unsupported uint64 // frames refused with ErrUnsupportedJPEG
}

// jpegSOF is what checkJPEGMarkers learns from a JPEG's headers.
type jpegSOF struct {
	marker        byte // SOFn marker code, 0xC0..0xCF
	width, height int
	components    int
	// hasDHT, hasDQT: the frame defines Huffman / quantisation tables
	// before its first scan. UVC cameras leave the Huffman tables out
	// (the standard ones are implied).
	hasDHT, hasDQT bool
}

// checkJPEGMarkers walks the marker segments of jpeg from SOI to the first
// start-of-scan segment, without touching entropy-coded data, and refuses
// what TurboJPEG would accept but a camera node should not decode: frames
// that are not baseline or extended sequential Huffman JPEGs (progressive
// JPEGs make libjpeg buffer the whole image's coefficients) and sizes above
// the limits. It reads at most the header and never allocates.
func checkJPEGMarkers(jpeg []byte) (jpegSOF, error) {
	if len(jpeg) < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		return jpegSOF{}, fmt.Errorf("%w: no SOI marker", ErrCorruptJPEG)
	}
	i := 2
	var s jpegSOF
	for {
		// Markers may be preceded by any number of 0xFF fill bytes.
		for i < len(jpeg) && jpeg[i] == 0xFF && i+1 < len(jpeg) && jpeg[i+1] == 0xFF {
			i++
		}
		if i+4 > len(jpeg) {
			return s, fmt.Errorf("%w: ends before the first scan", ErrCorruptJPEG)
		}
		if jpeg[i] != 0xFF {
			return s, fmt.Errorf("%w: no marker at offset %d", ErrCorruptJPEG, i)
		}
		m := jpeg[i+1]
		n := int(binary.BigEndian.Uint16(jpeg[i+2:]))
		switch {
		case m == 0xC4:
			s.hasDHT = true
		case m == 0xDB:
			s.hasDQT = true
		case m == 0xC8 || m == 0xCC:
			// JPG (reserved), DAC: not frame headers.
		case m == 0xDA && s.marker != 0:
			// SOS after the frame header: the headers are complete.
			return s, nil
		case m >= 0xC0 && m <= 0xCF && s.marker != 0:
			return s, fmt.Errorf("%w: a second frame header", ErrCorruptJPEG)
		case m >= 0xC0 && m <= 0xCF:
			if m != 0xC0 && m != 0xC1 {
				return s, fmt.Errorf("%w: SOF%d frame (only baseline and extended sequential Huffman JPEGs)", ErrUnsupportedJPEG, m-0xC0)
			}
			if n < 8 || i+2+n > len(jpeg) {
				return s, fmt.Errorf("%w: short frame header", ErrCorruptJPEG)
			}
			s.marker = m
			s.height = int(binary.BigEndian.Uint16(jpeg[i+5:]))
			s.width = int(binary.BigEndian.Uint16(jpeg[i+7:]))
			s.components = int(jpeg[i+9])
			if s.width == 0 || s.height == 0 {
				return s, fmt.Errorf("%w: %dx%d frame", ErrCorruptJPEG, s.width, s.height)
			}
			if s.width > MaxJPEGWidth || s.height > MaxJPEGHeight {
				return s, fmt.Errorf("%w: %dx%d is larger than %dx%d", ErrUnsupportedJPEG, s.width, s.height, MaxJPEGWidth, MaxJPEGHeight)
			}
		case m == 0xD8 || m == 0xD9 || m == 0xDA || (m >= 0xD0 && m <= 0xD7) || m == 0x00 || m == 0xFF:
			// SOI again, EOI, SOS or RSTn before the frame header, or a
			// stray byte.
			return s, fmt.Errorf("%w: marker 0x%02X before the first scan's header", ErrCorruptJPEG, m)
		}
		if n < 2 {
			return s, fmt.Errorf("%w: segment length %d", ErrCorruptJPEG, n)
		}
		i += 2 + n
	}
}

// sizeI420 makes dst an I420 frame of w x h (keeping its other fields),
// reusing dst.Data when it is large enough, and returns the three planes.
func sizeI420(dst *Frame, w, h int) (y, u, v []byte) {
	dst.Format.Width, dst.Format.Height, dst.Format.Pixel = w, h, I420
	n := dst.Format.FrameSize()
	if cap(dst.Data) < n {
		dst.Data = make([]byte, n)
	}
	dst.Data = dst.Data[:n]
	cs := ((w + 1) / 2) * ((h + 1) / 2)
	return dst.Data[:w*h], dst.Data[w*h : w*h+cs], dst.Data[w*h+cs : n]
}
