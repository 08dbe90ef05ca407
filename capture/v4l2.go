// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"context"
	"fmt"
	"log/slog"
)

// TEMPORARY: replaced by v4l2_linux.go (linux && cgo, go4vl) and
// v4l2_other.go (same API, returns ErrUnsupported).

// V4L2Config configures a V4L2 camera.
type V4L2Config struct {
	Device        string        // /dev/videoN or /dev/v4l/by-id/...
	Width, Height int           // requested size
	FPS           int           // requested rate
	Formats       []PixelFormat // preference order
	Buffers       int           // 2..4; 0 means 3
	Logger        *slog.Logger
}

// V4L2 is a V4L2 capture device. NewV4L2 does not open the device: only
// Stream does, so a node whose zone forbids capture never opens it.
type V4L2 struct{ cfg V4L2Config }

// NewV4L2 validates cfg.
func NewV4L2(cfg V4L2Config) (*V4L2, error) { return &V4L2{cfg: cfg}, nil }

// Stream implements Source.
func (v *V4L2) Stream(ctx context.Context, sink Sink) error {
	return fmt.Errorf("capture: V4L2 %s: %w (not yet implemented)", v.cfg.Device, ErrUnsupported)
}
