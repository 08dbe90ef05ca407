// SPDX-License-Identifier: Apache-2.0

//go:build !(linux && cgo)

package capture

// HaveJPEGDecoder reports whether this build can decode MJPEG frames. This
// one cannot: MJPEG needs the cgo build with libturbojpeg.
const HaveJPEGDecoder = false

// JPEGDecoder is the stub of the TurboJPEG decoder (jpeg_cgo.go): this build
// has no JPEG decoder, so NewJPEGDecoder fails with ErrNoJPEGDecoder.
type JPEGDecoder struct{}

// NewJPEGDecoder returns ErrNoJPEGDecoder: MJPEG needs the cgo build (linux,
// CGO_ENABLED=1) with libturbojpeg.
func NewJPEGDecoder() (*JPEGDecoder, error) { return nil, ErrNoJPEGDecoder }

// Decode returns ErrNoJPEGDecoder.
func (*JPEGDecoder) Decode([]byte, *Frame) error { return ErrNoJPEGDecoder }

// Stats returns zero counters.
func (*JPEGDecoder) Stats() JPEGStats { return JPEGStats{} }

// Close does nothing.
func (*JPEGDecoder) Close() error { return nil }
