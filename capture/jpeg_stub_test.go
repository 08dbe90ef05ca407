// SPDX-License-Identifier: Apache-2.0

//go:build !(linux && cgo)

package capture

import (
	"errors"
	"strings"
	"testing"
)

// TestJPEGDecoderStub: without cgo, asking for MJPEG says what build it needs.
func TestJPEGDecoderStub(t *testing.T) {
	if HaveJPEGDecoder {
		t.Fatal("stub build claims a JPEG decoder")
	}
	_, err := NewJPEGDecoder()
	if !errors.Is(err, ErrNoJPEGDecoder) || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("NewJPEGDecoder: %v, want ErrNoJPEGDecoder", err)
	}
	for _, s := range []string{"MJPEG", "cgo", "libturbojpeg"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	var d *JPEGDecoder
	if err := d.Decode([]byte{0xFF, 0xD8}, &Frame{}); !errors.Is(err, ErrNoJPEGDecoder) {
		t.Errorf("Decode: %v", err)
	}
}
