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
// The camera's SPS and PPS are cached on the capture goroutine from every
// access unit (also while nobody watches: UVC cameras often send them once)
// and put ahead of every IDR that lacks them. The stream sent starts at
// the camera's next IDR, and restarts there after a cut or after a frame
// was replaced before it was sent (later frames may refer to it). With a
// Masker, H.264 is never passed through (Err says why; capture.Choose
// never picks it when masks are set).
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
