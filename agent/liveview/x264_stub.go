// SPDX-License-Identifier: Apache-2.0

//go:build !(linux && cgo)

package liveview

import (
	"fmt"

	"github.com/camnode/camnode/capture"
)

// HaveSoftwareEncoder reports whether this build can encode raw frames.
// Without cgo only H.264 cameras (passthrough) can be viewed.
const HaveSoftwareEncoder = false

func newSoftwareEncoder(f capture.Format, _, _ int) (encoder, error) {
	return nil, fmt.Errorf("liveview: no software encoder in this build (needs linux and cgo with libx264); cannot show %s frames", f.Pixel)
}
