// SPDX-License-Identifier: Apache-2.0

// Package pipeline is the node's one frame stage: capture -> gate ->
// pipeline -> outputs. Every output (the live view, agent/liveview; the
// recorder stream, agent/recorder) consumes the same encoded stream, and a
// privacy cut reaches all of them from here. cmd/camnode builds one
// pipeline per node and attaches both.
//
// # Shape
//
// A Pipeline is an agent.FrameSink. WriteFrame, called by the capture
// goroutine with the privacy gate held open, copies the frame into one of
// two pooled slots (newest wins; it never waits for decoding or encoding)
// and wakes the single pipeline goroutine, which
//
//   - decodes MJPEG with one capture.JPEGDecoder into a reused I420 frame
//     (sequence number, time and drop count copied from the captured
//     frame); a corrupt JPEG is skipped and counted (Stats.Corrupt,
//     CorruptFrames for the status), never fatal;
//   - converts YUYV to I420 (I420 and NV12 are encoded as they come);
//   - calls the Masker, if one is configured, on that raw picture: the one
//     place privacy masks are burned in, before the encoder and so before
//     every output (issue 13);
//   - encodes once with x264 (cgo, linux: ultrafast, zerolatency, baseline,
//     one thread; an IDR at least every Config.KeyInterval, default 2 s,
//     so recorders can cut segments; the VUI full-range flag for decoded
//     JPEG, which is full range), or passes H.264 through;
//   - hands the access unit to every Output (WriteAU).
//
// Nothing is decoded or encoded while no output wants the stream. Any
// output may ask for a keyframe (RequestKeyframe). The stub build (no cgo)
// has no encoder (HaveEncoder false): only H.264 cameras can be shown.
//
// # H.264 cameras
//
// Every access unit is checked first (AUChecker: NAL syntax, emulation
// prevention, SPS, PPS and every slice header against the sets it names):
// broken NAL units that are not slices are left out (Stats.BadNAL); an
// access unit with a broken slice, or nothing sound in it, is skipped
// whole and counted as corrupt (Stats.Corrupt, CorruptFrames). Damage
// inside slice data past the header is not seen here; the camera's error
// flag (V4L2_BUF_FLAG_ERROR) drops such frames in capture. The camera's
// SPS and PPS are cached on the capture goroutine from every access unit
// (also while nobody watches: UVC cameras often send them once) and put
// ahead of every IDR, in that order. The stream sent starts at the
// camera's next IDR, and restarts there after a cut, a skipped or
// replaced frame, or a gap in the camera's sequence numbers (later frames
// may refer to the lost one); the camera is then asked for an IDR
// (SetKeyframeSource: capture.V4L2 sets V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME
// where the device has it), as it is when a viewer joins (RequestKeyframe).
// Where it cannot be asked, a joining viewer waits at most one keyframe
// interval of the camera (measured in the VM case, docs/vm-tests.md). An
// IDR while no SPS and PPS are known (the camera sent them once, with a
// frame that was lost) is not handed on: Err says why and the camera is
// asked again. With a Masker, H.264 is never passed through (Err says
// why; capture.Choose never picks it when masks are set).
//
// # Privacy
//
// Cut, called by the agent with the gate held closed, bumps the epoch
// under the lock access units are written with, so no access unit built
// from a frame captured before it is written after it; drops the pending
// frame; and calls every output's Cut, which closes its sessions and drops
// its buffers, before it returns. The first frame of a new epoch gets a
// fresh encoder and an IDR, so nothing refers to pictures from before.
//
// Steady state allocates nothing per frame (TestPipelineAllocs).
package pipeline
