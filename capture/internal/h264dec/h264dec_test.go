// SPDX-License-Identifier: Apache-2.0

//go:build cgo

package h264dec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
)

// TestRecordingStamps: the recorded stream (testdata/h264) decodes, access
// unit by access unit, to pictures stamped 0..44 in order: the stamps the
// VM case reads back are in the recording.
func TestRecordingStamps(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "h264", "320x240-gop15.h264"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n := uint32(0)
	for au, rest := pipeline.NextAU(b); au != nil; au, rest = pipeline.NextAU(rest) {
		pic, ok, err := d.Decode(au)
		if err != nil || !ok {
			t.Fatalf("access unit %d: picture %v, err %v", n, ok, err)
		}
		c, _, ok := capture.ReadStamp(pic.Y, pic.Stride, pic.Width, pic.Height)
		if !ok || c != n {
			t.Fatalf("access unit %d: stamp %d (read %v)", n, c, ok)
		}
		n++
	}
	if n != 45 {
		t.Fatalf("%d pictures, want 45", n)
	}
}
