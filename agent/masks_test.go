// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// TestMaskCount: the masks of the verified identity show in the status;
// a refused identity has none.
func TestMaskCount(t *testing.T) {
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
	if a := newAgent(id, nil); a.MaskCount() != 2 || a.snapshot().Masks != 2 {
		t.Fatalf("MaskCount %d status masks %d, want 2", a.MaskCount(), a.snapshot().Masks)
	}
	if a := newAgent(testIdentity("corridor", "Ward 3 corridor"), nil); a.MaskCount() != 0 {
		t.Fatal("masks without any in the identity")
	}
	if a := newAgent(firmware.Identity{}, errors.New("identity: bad")); a.MaskCount() != 0 {
		t.Fatal("a refused identity reports masks")
	}
}
