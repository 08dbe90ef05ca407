// SPDX-License-Identifier: Apache-2.0

package capture

import "time"

// TestPattern renders the Synthetic source's picture (colour bars, ramp,
// moving box and the Stamp of the frame counter and time) one frame at a
// time, for emulated cameras that serve the same pictures through a real
// driver (capture/uvcsim). It allocates only in NewTestPattern.
type TestPattern struct{ p *painter }

// NewTestPattern validates cfg as NewSynthetic does (FPS is not used but
// must be valid) and allocates the frame pool.
func NewTestPattern(cfg SyntheticConfig) (*TestPattern, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &TestPattern{p: newPainter(Format{Width: cfg.Width, Height: cfg.Height, Pixel: cfg.Pixel, FPSNum: cfg.FPS, FPSDen: 1})}, nil
}

// Frame renders frame seq, stamped with seq and t, and returns it. The
// frame is valid until Frame has been called twice more (a pool of three).
func (t *TestPattern) Frame(seq uint64, at time.Time) *Frame { return t.p.produce(seq, at) }
