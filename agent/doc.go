// SPDX-License-Identifier: Apache-2.0

// Package agent is the brain of a camnode camera node: it owns privacy mode,
// the zone lock, the shutter, the recording LED, the frame gate and the
// capture session, and keeps the safety invariants true by construction.
//
// # Shape
//
// All decisions are made by one pure function, step(State, Event) (State,
// []Action), in state.go. It reads no clock, does no I/O and starts no
// goroutine. One goroutine (Agent.Run, loop.go) owns the State, turns
// device inputs, requests and timers into events, calls step and executes
// the returned actions in order. Requests that need an answer (privacy
// on/off from the button, the local socket or the hub) carry a reply
// channel and are answered when the node has settled.
//
// The zero State is the safe state: privacy on, zone not verified, capture
// off, shutter closed, LED off, frame gate closed.
//
// # Inputs and outputs
//
// Inputs are "facts": the requested mode (Viewing), the zone verdict, the
// audio guard's verdict, the shutter sensor, the capture session's life
// cycle and shutdown. The camera runs only when
//
//	Viewing && ZoneOK && no audio device && !Shutdown
//
// and reconcile moves the outputs one safe increment at a time towards
// that target:
//
//	leaving privacy:   audited -> shutter open -> [sensor confirms open,
//	                   or fault + back to privacy after ShutterConfirm]
//	                   -> LED on -> Stream (STREAMON) -> gate open
//	                   -> mode "off" saved (fsync) -> request answered
//	entering privacy:  gate closed (consumers cut) -> capture cancelled ->
//	                   [STREAMOFF: Stream returned] -> shutter closed ->
//	                   LED off -> mode saved + audited -> request answered
//
// Saving "off" is the commit point of leaving privacy: it is the last
// action before the answer (nothing else runs in between), so a crash at
// any earlier point leaves the file saying private and the node boots
// private (invariant 5). The button, which has nobody to answer, commits at
// the same point. A failed save returns the node to privacy with a fault
// and answers the request with the failure. A start that is stopped,
// refused or has to retry the camera on the way is never committed: the
// requester was told it failed, and the file keeps saying private. The file
// is a decision only when it is byte for byte what SaveMode writes.
//
// # Invariants (checked after every step in tests and fuzzing)
//
//   - The LED is commanded on whenever capture is not off; it goes off only
//     after Stream returned (STREAMOFF). A start is always preceded by a
//     successful LED write in the same action list: a failed LED write
//     aborts the rest of the list, so the camera is never started without
//     the indicator.
//   - The gate is open only when the target holds, the LED is on, the
//     shutter is open and the stream has started. Closing it is the first
//     action of any step that leaves that condition, and it waits for an
//     in-flight frame and cuts every consumer before returning, so no frame
//     leaves the node after a privacy request has entered the loop.
//   - Without a verified identity in an allowed zone, Viewing is always
//     false: no event can start the camera. The zone rule (zone.go) is
//     compiled in.
//   - Failed unsafe writes (LED on, shutter open, saving "privacy off")
//     return the node to privacy with a fault; failed safe writes (LED
//     off, shutter close, saving "privacy on") are retried on a timer and
//     once more at exit: a file left saying "off" after privacy on was
//     acknowledged would otherwise boot streaming after a crash.
//
// # Data flow
//
// Frames flow one way: capture -> gate -> pipeline -> outputs.
//
//	capture.Source --Frame--> gate (this package) --WriteFrame--> pipeline.Pipeline
//	    (V4L2 mode from capture.Choose)   (open only    (agent/pipeline: MJPEG decode,
//	                                       while safe)   YUYV conversion, Masker hook,
//	                                                     one x264 encode or H.264
//	                                                     passthrough)
//	                                                       --AU--> outputs (live view;
//	                                                               the recorder stream)
//
// The gate's sinks (Deps.Sinks) are FrameSinks; on a node that is the
// pipeline. Closing the gate calls the pipeline's Cut, the one place a
// privacy cut reaches every output: it moves the pipeline to a new epoch
// (nothing built from a frame captured before it is written after it, the
// encoder restarts with an IDR), and cuts every output, which closes its
// sessions and drops its buffers, before the gate's close returns. The
// status reports frames passed (Frames), frames the camera dropped
// (CameraDropped, from capture.Frame.Dropped) and frames skipped as
// corrupt (CorruptFrames, from a sink's CorruptCounter).
//
// Capture loss schedules a retry with a doubling, capped delay; the LED is
// off while waiting. An audio device stops capture until it is gone but does
// not change the requested mode. Shutdown stops capture without changing the
// persisted mode, and Run always leaves the shutter closed and the LED off.
//
// Privacy masks (masks.go) come only from the verified identity. The frame
// pipeline compiles them (MaskPlan) for the format at its mask hook and
// fills every frame before any output; NeedRaw rules out H.264
// passthrough, so masked pixels never leave the node.
package agent
