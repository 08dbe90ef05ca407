// SPDX-License-Identifier: Apache-2.0

package firmware

// This file exists so that `camctl provision` writes exactly the reviewed,
// tested sample configuration (camnode.toml.sample) when the installer does
// not bring their own.

import _ "embed"

//go:embed camnode.toml.sample
var sampleConfig []byte

// SampleConfig returns a copy of camnode.toml.sample.
func SampleConfig() []byte {
	return append([]byte(nil), sampleConfig...)
}
