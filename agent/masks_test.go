// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// TestMaskPlan: the masks of the verified identity reach the frame
// pipeline compiled for its format, force raw frames, and show in the
// status; without masks nothing is compiled and passthrough stays allowed.
func TestMaskPlan(t *testing.T) {
	newAgent := func(id firmware.Identity, idErr error) *Agent {
		a, err := New(Config{Identity: id, IdentityErr: idErr, StatePath: filepath.Join(t.TempDir(), "p.json")},
			Deps{LED: &gpiotest.LED{}, Shutter: &gpiotest.Shutter{}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	id := testIdentity("corridor", "Ward 3 corridor")
	id.Masks = []firmware.Mask{{Rect: []float64{0, 0, 0.5, 1}}, {Poly: [][]float64{{0.5, 0}, {1, 0}, {1, 0.5}}}}
	a := newAgent(id, nil)
	if a.MaskCount() != 2 || !a.NeedRaw() || a.snapshot().Masks != 2 {
		t.Fatalf("MaskCount %d NeedRaw %v status masks %d, want 2 true 2", a.MaskCount(), a.NeedRaw(), a.snapshot().Masks)
	}
	f := capture.Format{Width: 64, Height: 48, Pixel: capture.NV12}
	plan, err := a.MaskPlan(f)
	if err != nil || plan == nil || plan.Masks() != 2 || plan.Format() != f {
		t.Fatalf("MaskPlan = %v, %v", plan, err)
	}
	frame := &capture.Frame{Data: make([]byte, f.FrameSize()), Format: f}
	if err := plan.Apply(frame); err != nil || frame.Data[0] != capture.MaskFillY || frame.Data[63] != capture.MaskFillY {
		t.Fatalf("Apply: %v, first row %v", err, frame.Data[:64])
	}
	if _, err := a.MaskPlan(capture.Format{Width: 64, Height: 48, Pixel: capture.H264}); err == nil {
		t.Fatal("compiled masks for H.264 passthrough")
	}

	a = newAgent(testIdentity("corridor", "Ward 3 corridor"), nil)
	if plan, err := a.MaskPlan(capture.Format{Width: 64, Height: 48, Pixel: capture.H264}); plan != nil || err != nil || a.NeedRaw() || a.MaskCount() != 0 {
		t.Fatalf("no masks: MaskPlan = %v, %v; NeedRaw %v", plan, err, a.NeedRaw())
	}
	a = newAgent(firmware.Identity{}, errors.New("identity: bad"))
	if a.MaskCount() != 0 || a.NeedRaw() {
		t.Fatal("a refused identity reports masks")
	}
}
