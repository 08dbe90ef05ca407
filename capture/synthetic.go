// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits of SyntheticConfig.
const (
	// SyntheticMinDim and SyntheticMaxDim bound Width and Height.
	SyntheticMinDim = 16
	SyntheticMaxDim = 4096
	// SyntheticMaxFPS bounds FPS (the minimum is 1).
	SyntheticMaxFPS = 120
)

// SyntheticConfig configures a synthetic camera.
type SyntheticConfig struct {
	// Width and Height of the picture in pixels: even, 16..4096. Frames
	// smaller than StampWidth x StampHeight (320x96) carry no stamp.
	Width, Height int
	// Pixel is the raw format delivered: I420 or YUYV.
	Pixel PixelFormat
	// FPS is the frame rate, 1..120 frames per second.
	FPS int
	// Now returns the capture time of a frame; nil means time.Now.
	Now func() time.Time
}

// Validate reports every invalid field of c, each error naming its field.
func (c SyntheticConfig) Validate() error {
	var errs []error
	dim := func(name string, v int) {
		if v < SyntheticMinDim || v > SyntheticMaxDim || v%2 != 0 {
			errs = append(errs, fmt.Errorf("capture: synthetic: %s %d: want an even number in %d..%d",
				name, v, SyntheticMinDim, SyntheticMaxDim))
		}
	}
	dim("Width", c.Width)
	dim("Height", c.Height)
	if c.Pixel != I420 && c.Pixel != YUYV {
		errs = append(errs, fmt.Errorf("capture: synthetic: Pixel %q: want %s or %s", c.Pixel, I420, YUYV))
	}
	if c.FPS < 1 || c.FPS > SyntheticMaxFPS {
		errs = append(errs, fmt.Errorf("capture: synthetic: FPS %d: want 1..%d", c.FPS, SyntheticMaxFPS))
	}
	return errors.Join(errs...)
}

// Synthetic is a Source that renders a moving test pattern: 75% colour
// bars, a scrolling luma ramp and a moving box whose brightness changes with
// the frame number, with a Stamp of the frame counter and capture time in
// the top-left corner. Frames are paced by a time.Ticker, so in a
// testing/synctest bubble they arrive at the configured rate in fake time.
//
// Synthetic also injects faults for tests of its callers (FailAfter) and
// reports its lifecycle (OnStreamOn, OnStreamOff, Opens). Its methods are
// safe for concurrent use; like every Source it runs one Stream at a time.
type Synthetic struct {
	// OnStreamOn, if not nil, is called by Stream just before it calls
	// Sink.Started, as a real source would issue VIDIOC_STREAMON.
	OnStreamOn func()
	// OnStreamOff, if not nil, is called by Stream just before it returns,
	// on every path after OnStreamOn, as a real source would issue
	// VIDIOC_STREAMOFF and close the device.
	//
	// Both hooks run on the streaming goroutine. Set them before the first
	// call to Stream and do not change them afterwards.
	OnStreamOff func()

	cfg    SyntheticConfig
	format Format

	mu        sync.Mutex
	opens     int
	streaming bool
	failAfter int // frames per stream before failing; < 0: disarmed
	failErr   error
}

// NewSynthetic returns a synthetic camera, or the error of cfg.Validate.
func NewSynthetic(cfg SyntheticConfig) (*Synthetic, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Synthetic{
		cfg: cfg,
		format: Format{
			Width:  cfg.Width,
			Height: cfg.Height,
			Pixel:  cfg.Pixel,
			FPSNum: cfg.FPS,
			FPSDen: 1,
		},
		failAfter: -1,
	}, nil
}

// Format returns the format Stream passes to Sink.Started.
func (s *Synthetic) Format() Format { return s.format }

// Opens returns how many times Stream has been called.
func (s *Synthetic) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// FailAfter arms a fault: from now on, every Stream call stops after it
// has delivered n frames (n = 0: right after Sink.Started) and returns an
// error wrapping both ErrLost and err (err may be nil). The check is made
// before each frame, so arming it during a stream that has already
// delivered n frames or more makes that stream fail before its next frame.
// A negative n disarms the fault.
func (s *Synthetic) FailAfter(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfter, s.failErr = n, err
}

// fault returns the injected error if a stream that has delivered n
// frames must fail now, or nil.
func (s *Synthetic) fault(n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAfter < 0 || n < uint64(s.failAfter) {
		return nil
	}
	switch {
	case s.failErr == nil:
		return fmt.Errorf("capture: synthetic: injected fault after %d frames: %w", n, ErrLost)
	case errors.Is(s.failErr, ErrLost):
		return fmt.Errorf("capture: synthetic: injected fault after %d frames: %w", n, s.failErr)
	default:
		return fmt.Errorf("capture: synthetic: injected fault after %d frames: %w: %w", n, ErrLost, s.failErr)
	}
}

// Stream implements Source. It allocates a pool of frames, calls
// OnStreamOn and sink.Started, then delivers one frame per tick of a
// 1/FPS ticker, the first one interval after the start, with Seq counting
// delivered frames from 0 and Time the capture time. It returns nil once
// ctx is done, the injected error (see FailAfter), or an error if another
// Stream call is running; OnStreamOff is called just before it returns.
func (s *Synthetic) Stream(ctx context.Context, sink Sink) error {
	s.mu.Lock()
	s.opens++
	if s.streaming {
		s.mu.Unlock()
		return errors.New("capture: synthetic: device busy: Stream already running")
	}
	s.streaming = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.streaming = false
		s.mu.Unlock()
	}()

	p := newPainter(s.format)
	ticker := time.NewTicker(time.Second / time.Duration(s.cfg.FPS))
	on, off := s.OnStreamOn, s.OnStreamOff
	defer func() {
		ticker.Stop()
		if off != nil {
			off()
		}
	}()
	if on != nil {
		on()
	}
	sink.Started(s.format)

	for seq := uint64(0); ; seq++ {
		if err := s.fault(seq); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if ctx.Err() != nil {
			return nil
		}
		sink.Frame(p.produce(seq, s.cfg.Now()))
	}
}
