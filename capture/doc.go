// SPDX-License-Identifier: Apache-2.0

// Package capture defines how camnode gets pictures from a camera and
// provides a synthetic camera for tests and demos.
//
// # Sources, sinks and frames
//
// A Source is a camera. Source.Stream opens the device, starts streaming
// and pushes what it captures into a Sink until its context is done or the
// device fails; it returns only once streaming has stopped and the device
// is closed, so that callers can switch the recording LED off when it
// returns. It returns nil when the context ended the stream and an error
// wrapping ErrLost when the device went away; callers retry with backoff.
//
// The Sink is called from the streaming goroutine, one call at a time:
// Sink.Started exactly once per Stream, with the Format the device really
// delivers, before any frame, then Sink.Frame for each frame. Sinks must
// not block for long.
//
// A Frame and its Data belong to the source and are valid only during the
// Sink.Frame call that delivers them: sources reuse a fixed pool of buffers
// and allocate nothing per frame, so a sink that needs the bytes later must
// copy them.
//
// # Synthetic source
//
// Synthetic (NewSynthetic) renders a moving test pattern in I420 or YUYV at
// a configured size and rate, paced by a time.Ticker so that tests under
// testing/synctest run in fake time. It offers fault injection
// (Synthetic.FailAfter) and lifecycle hooks (OnStreamOn, OnStreamOff,
// Opens) for tests of the agent. The capturetest package has a recording
// Sink.
//
// # Stamps
//
// Every synthetic frame at least StampWidth x StampHeight (320x96) pixels
// carries a stamp: a band of 20 x 6 blocks of 16x16 pixels at the top-left
// of the luma plane, black for 0 and white for 1, holding a 16-bit start
// marker, the 32-bit frame counter, the capture time in Unix microseconds
// (64 bits) and a CRC-8, most significant bit first, row by row. Blocks
// follow the 16x16 macroblock grid and are sampled at their centre, so
// that the stamp is meant to survive H.264 or VP8 at modest bitrates and
// lets a viewer measure end-to-end latency and dropped frames. Stamp paints
// one into any I420, NV12 or YUYV frame; ReadStamp and ReadFrameStamp read
// it back. The exact layout is documented on the StampBlock constants.
//
// # Cameras
//
// V4L2 (NewV4L2) is the real camera. It is built with "linux && cgo";
// elsewhere, including CGO_ENABLED=0 builds, a stub with the same API
// returns ErrUnsupported from Stream, so the package builds everywhere.
//
// # Choosing a format
//
// Choose picks, among the modes a camera offers (V4L2 enumerates them with
// VIDIOC_ENUM_FRAMESIZES and VIDIOC_ENUM_FRAMEINTERVALS), the one that
// costs the node least and that an output can show (Capabilities: an
// encoder, an MJPEG decoder, masks that forbid H.264): H.264 passthrough,
// then raw (I420, NV12, then YUYV), then MJPEG, at the configured size and
// rate; failing that the fastest mode at that size, then the closest size.
// It never picks a format no output can show, and fails with ErrNoFormat
// naming every offer and why it is unusable. V4L2Config.Formats (the
// camera.formats setting) is a filter on the formats, not an order.
//
// # MJPEG
//
// Most USB webcams send 720p only as MJPEG. A JPEGDecoder (NewJPEGDecoder;
// libjpeg-turbo's TurboJPEG API, "linux && cgo" builds with
// libturbojpeg0-dev) decodes one frame into a Frame the caller owns and
// reuses, as I420, the format the pipeline's encoder (agent/pipeline)
// takes: 4:2:0 JPEGs straight into its planes, 4:2:2 JPEGs through a reused scratch buffer and
// a mean of row pairs, greyscale with neutral chroma. Nothing is allocated
// per frame once the buffers have grown to the frame size. A truncated or
// corrupt frame (TurboJPEG's warnings included) returns ErrCorruptJPEG and
// is to be skipped; JPEGs the decoder does not take (4:4:4, progressive,
// above MaxJPEGWidth x MaxJPEGHeight, ...) return ErrUnsupportedJPEG before
// anything is allocated; JPEGDecoder.Stats counts both. The stub build has
// HaveJPEGDecoder false and returns ErrNoJPEGDecoder, which says that MJPEG
// needs the cgo build with libturbojpeg. testdata/jpeg holds real, stamped
// frames.
package capture
