// SPDX-License-Identifier: Apache-2.0

//go:build !(linux && cgo)

package pipeline

import (
	"fmt"

	"github.com/camnode/camnode/capture"
)

// HaveEncoder reports whether this build can encode raw frames. Without
// cgo only H.264 cameras (passthrough) can be shown.
const HaveEncoder = false

// NewEncoder always fails in this build.
func NewEncoder(f capture.Format, _, _, _ int, _ bool) (Encoder, error) {
	return nil, fmt.Errorf("pipeline: no software encoder in this build (needs linux and cgo with libx264); cannot show %s frames", f.Pixel)
}
