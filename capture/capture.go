// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PixelFormat names the layout of Frame.Data.
type PixelFormat string

// Pixel formats understood by camnode. Raw formats are tightly packed with
// no row padding.
const (
	I420  PixelFormat = "I420"  // planar Y, U, V; U and V subsampled 2x2
	YUYV  PixelFormat = "YUYV"  // packed 4:2:2, Y0 U Y1 V
	NV12  PixelFormat = "NV12"  // planar Y, interleaved UV subsampled 2x2
	H264  PixelFormat = "H264"  // Annex-B access units
	MJPEG PixelFormat = "MJPEG" // one JPEG per frame
)

// Format is what a source actually delivers, read back from the device after
// negotiation (not what was asked for).
type Format struct {
	Width, Height int
	Pixel         PixelFormat
	// FPSNum/FPSDen is the frame rate the driver set (frames per second as a
	// fraction, e.g. 25/1 or 30000/1001).
	FPSNum, FPSDen int
}

// FPS returns the frame rate as a float, or 0 if unknown.
func (f Format) FPS() float64 {
	if f.FPSDen == 0 {
		return 0
	}
	return float64(f.FPSNum) / float64(f.FPSDen)
}

// FrameSize returns the number of bytes of one raw frame, or 0 for
// compressed or unknown formats.
func (f Format) FrameSize() int {
	switch f.Pixel {
	case I420, NV12:
		return f.Width*f.Height + 2*((f.Width+1)/2)*((f.Height+1)/2)
	case YUYV:
		return f.Width * f.Height * 2
	}
	return 0
}

func (f Format) String() string {
	return fmt.Sprintf("%dx%d %s %d/%d fps", f.Width, f.Height, f.Pixel, f.FPSNum, f.FPSDen)
}

// Frame is one captured picture.
//
// Ownership: a Frame and its Data belong to the source. They are valid only
// for the duration of the Sink.Frame call that delivers them; a consumer that
// needs the bytes later must copy them. This is what lets sources deliver
// frames from a fixed pool with no allocation per frame.
type Frame struct {
	Data []byte
	Seq  uint64 // driver sequence number (or counter), starts at 0 per stream
	// Dropped counts, for this stream so far, the frames that never
	// reached the sink between the first delivered frame and this one:
	// gaps in the driver's sequence numbers (frames the driver or the
	// hardware dropped, or that the source skipped to deliver the newest).
	// Seq increases strictly; Dropped never decreases.
	Dropped uint64
	Time    time.Time // capture time
	Format  Format
	Key     bool // for compressed formats: the frame is a keyframe
}

// Sink receives what a Source produces. Its methods are called from the
// source's streaming goroutine, one at a time, and must not block for long.
type Sink interface {
	// Started is called once per Stream, after the device started streaming
	// (after STREAMON), with the format the driver really set.
	Started(Format)
	// Frame is called for each frame. See Frame for ownership.
	Frame(*Frame)
}

// Source is a camera.
//
// Stream opens the device, starts streaming, and delivers frames to sink
// until ctx is done or the device fails. It returns only after streaming has
// stopped (after STREAMOFF) and the device is closed: callers rely on that to
// switch the recording LED off. It returns nil when ctx ended the stream and
// an error (wrapping ErrLost where the device went away) otherwise. A Source
// is used by one Stream call at a time.
type Source interface {
	Stream(ctx context.Context, sink Sink) error
}

// Errors reported by sources.
var (
	// ErrLost means the device disappeared or failed while streaming
	// (unplugged, ENODEV, EIO, POLLERR). The caller retries with backoff.
	ErrLost = errors.New("capture: device lost")
	// ErrUnsupported is returned by sources that are not compiled into this
	// binary (e.g. V4L2 without linux+cgo).
	ErrUnsupported = errors.ErrUnsupported
)
