// SPDX-License-Identifier: Apache-2.0

//go:build !cgo

package h264dec

import "errors"

// Decoder is not available without cgo.
type Decoder struct{}

// Picture is a decoded picture's luma plane.
type Picture struct {
	Y                     []byte
	Stride, Width, Height int
}

// New fails: OpenH264 needs cgo.
func New() (*Decoder, error) { return nil, errors.New("h264dec: needs cgo and libopenh264-dev") }

// Decode is never reached (New fails).
func (d *Decoder) Decode([]byte) (Picture, bool, error) {
	return Picture{}, false, errors.New("h264dec: needs cgo")
}

// Close does nothing.
func (d *Decoder) Close() {}
