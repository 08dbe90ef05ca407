// SPDX-License-Identifier: Apache-2.0

package agent

// Privacy masks (issue 13) come only from the signed identity
// (firmware.Identity.Masks): no configuration key, local command or hub
// command reaches them. The node's wiring (cmd/camnode) hands them to the
// frame pipeline as a capture.Masker, which burns them into every raw or
// decoded picture before it is encoded, so before any output sees it
// (invariant 7); a picture that cannot be masked is dropped. With masks
// the camera's format choice never takes H.264 passthrough
// (capture.Capabilities.NeedRaw), and a camera that offers nothing
// maskable stays off with a fault.

// MaskCount returns how many privacy masks the verified identity sets (the
// status shows it).
func (a *Agent) MaskCount() int {
	if a.cfg.IdentityErr != nil {
		return 0
	}
	return len(a.cfg.Identity.Masks)
}
