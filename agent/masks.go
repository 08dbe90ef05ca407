// SPDX-License-Identifier: Apache-2.0

package agent

import "github.com/camnode/camnode/capture"

// Privacy masks (issue 13) come only from the signed identity
// (firmware.Identity.Masks): no configuration key, local command or hub
// command reaches them. They are burned into the raw frame in the capture
// path, before the frame reaches any output (live view, recorder,
// snapshots), so masked pixels never leave the node (invariant 7).
//
// Who knows the frame format at the mask hook (the frame pipeline) asks
// the agent for the compiled plan once per negotiated format and applies it
// to every frame:
//
//	if a.NeedRaw() { /* never choose H.264 passthrough */ }
//	plan, err := a.MaskPlan(rawFormat) // after MJPEG decoding: the decoded format
//	if err != nil { /* deliver nothing: camera off, fault */ }
//	if plan != nil && plan.Apply(frame) != nil { /* drop the frame */ }

// MaskCount returns how many privacy masks the verified identity sets.
func (a *Agent) MaskCount() int {
	if a.cfg.IdentityErr != nil {
		return 0
	}
	return len(a.cfg.Identity.Masks)
}

// NeedRaw reports whether frames must be raw (or decoded to raw) before
// any output sees them: true when masks are set, because a compressed
// stream cannot be masked without decoding. With masks, H.264 passthrough
// is never chosen, and a camera that offers nothing maskable stays off.
func (a *Agent) NeedRaw() bool { return a.MaskCount() > 0 }

// MaskPlan compiles the identity's masks for frames of format f, the
// format at the mask hook (the negotiated raw format, or what MJPEG decodes
// to). It returns nil, nil when there are no masks. An error (f is not a
// raw format, or a size that cannot be masked) means no frame may be
// delivered.
func (a *Agent) MaskPlan(f capture.Format) (*capture.MaskPlan, error) {
	if a.MaskCount() == 0 {
		return nil, nil
	}
	return capture.CompileMasks(a.cfg.Identity.Masks, f.Width, f.Height, f.Pixel)
}
