// SPDX-License-Identifier: Apache-2.0

//go:build !linux || !cgo

package capture

import (
	"context"
	"fmt"
)

// V4L2 is a V4L2 capture device. This build has no V4L2 support: Stream
// always fails with ErrUnsupported.
type V4L2 struct{ cfg V4L2Config }

// NewV4L2 validates cfg. It does not touch the device.
func NewV4L2(cfg V4L2Config) (*V4L2, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &V4L2{cfg: c}, nil
}

// AudioStatus reports what the last Stream found about the device's audio
// inputs; always "" in this build.
func (v *V4L2) AudioStatus() string { return "" }

// Stream implements Source; it always fails in this build.
func (v *V4L2) Stream(ctx context.Context, sink Sink) error {
	return fmt.Errorf("capture: V4L2 %s: V4L2 capture needs Linux with cgo: %w", v.cfg.Device, ErrUnsupported)
}

// Probe fails in this build, as Stream does.
func (v *V4L2) Probe() (ProbeInfo, error) {
	return ProbeInfo{}, fmt.Errorf("capture: V4L2 %s: V4L2 capture needs Linux with cgo: %w", v.cfg.Device, ErrUnsupported)
}

// RequestKeyframe reports false: this build streams nothing.
func (v *V4L2) RequestKeyframe() bool { return false }

var _ Source = (*V4L2)(nil)
