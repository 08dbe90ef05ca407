// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestSyntheticConfigValidate(t *testing.T) {
	valid := SyntheticConfig{Width: 640, Height: 480, Pixel: I420, FPS: 30}
	with := func(mod func(*SyntheticConfig)) SyntheticConfig {
		c := valid
		mod(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  SyntheticConfig
		bad  []string // fields the error must name; empty: valid
	}{
		{"valid", valid, nil},
		{"smallest", SyntheticConfig{Width: 16, Height: 16, Pixel: YUYV, FPS: 1}, nil},
		{"largest", SyntheticConfig{Width: 4096, Height: 4096, Pixel: I420, FPS: 120}, nil},
		{"with Now", with(func(c *SyntheticConfig) { c.Now = time.Now }), nil},
		{"width odd", with(func(c *SyntheticConfig) { c.Width = 641 }), []string{"Width"}},
		{"width small", with(func(c *SyntheticConfig) { c.Width = 14 }), []string{"Width"}},
		{"width large", with(func(c *SyntheticConfig) { c.Width = 4098 }), []string{"Width"}},
		{"height odd", with(func(c *SyntheticConfig) { c.Height = 17 }), []string{"Height"}},
		{"height zero", with(func(c *SyntheticConfig) { c.Height = 0 }), []string{"Height"}},
		{"pixel NV12", with(func(c *SyntheticConfig) { c.Pixel = NV12 }), []string{"Pixel"}},
		{"pixel empty", with(func(c *SyntheticConfig) { c.Pixel = "" }), []string{"Pixel"}},
		{"fps zero", with(func(c *SyntheticConfig) { c.FPS = 0 }), []string{"FPS"}},
		{"fps high", with(func(c *SyntheticConfig) { c.FPS = 121 }), []string{"FPS"}},
		{"zero value", SyntheticConfig{}, []string{"Width", "Height", "Pixel", "FPS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != (len(tt.bad) > 0) {
				t.Fatalf("Validate() = %v, want error naming %v", err, tt.bad)
			}
			s, nerr := NewSynthetic(tt.cfg)
			if (nerr != nil) != (err != nil) || (nerr == nil) != (s != nil) {
				t.Fatalf("NewSynthetic = %v, %v; Validate = %v", s, nerr, err)
			}
			if err == nil {
				return
			}
			for _, field := range []string{"Width", "Height", "Pixel", "FPS"} {
				if got, want := strings.Contains(err.Error(), field+" "), slices.Contains(tt.bad, field); got != want {
					t.Errorf("error %q names %s: %v, want %v", err, field, got, want)
				}
			}
		})
	}
}

// frameRecord is what a test sink keeps of one frame.
type frameRecord struct {
	seq     uint64
	size    int
	time    time.Time
	counter uint32
	stamp   time.Time
	stamped bool
}

// timeline records sink calls and hooks, in order, from any goroutine.
type timeline struct {
	mu      sync.Mutex
	events  []string
	format  Format
	frames  []frameRecord
	onFrame func(*Frame) // called at the end of Frame, if set
}

func (tl *timeline) add(ev string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.events = append(tl.events, ev)
}

func (tl *timeline) Started(f Format) {
	tl.mu.Lock()
	tl.events = append(tl.events, "started")
	tl.format = f
	tl.mu.Unlock()
}

func (tl *timeline) Frame(f *Frame) {
	c, ts, ok := ReadFrameStamp(f)
	tl.mu.Lock()
	tl.events = append(tl.events, fmt.Sprintf("frame %d", f.Seq))
	tl.frames = append(tl.frames, frameRecord{f.Seq, len(f.Data), f.Time, c, ts, ok})
	on := tl.onFrame
	tl.mu.Unlock()
	if on != nil {
		on(f)
	}
}

func (tl *timeline) snapshot() ([]string, []frameRecord) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.events), slices.Clone(tl.frames)
}

func mustSynthetic(t *testing.T, cfg SyntheticConfig) *Synthetic {
	t.Helper()
	s, err := NewSynthetic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bounded returns a context that ends after a minute of (fake) time, so
// that a stream which ignores cancellation or an injected fault ends and
// fails the test instead of hanging it.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// hook returns a timeline-recording hook.
func hook(tl *timeline, ev string) func() { return func() { tl.add(ev) } }

// frameEvents returns "frame 0" .. "frame n-1".
func frameEvents(n int) []string {
	var ev []string
	for i := range n {
		ev = append(ev, fmt.Sprintf("frame %d", i))
	}
	return ev
}

func TestSyntheticStreamRate(t *testing.T) {
	tests := []struct {
		w, h  int
		pixel PixelFormat
		fps   int
	}{
		{320, 240, I420, 30},
		{640, 480, YUYV, 25},
		{16, 16, I420, 1},
		{320, 96, YUYV, 120},
		{1280, 720, I420, 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d %s %dfps", tt.w, tt.h, tt.pixel, tt.fps), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tl := &timeline{}
				s := mustSynthetic(t, SyntheticConfig{Width: tt.w, Height: tt.h, Pixel: tt.pixel, FPS: tt.fps,
					Now: func() time.Time { return time.Now().UTC() }})
				s.OnStreamOn, s.OnStreamOff = hook(tl, "on"), hook(tl, "off")
				interval := time.Second / time.Duration(tt.fps)
				// One second of fake time, ending between two ticks.
				ctx, cancel := context.WithTimeout(context.Background(), time.Second+interval/2)
				defer cancel()
				start := time.Now()

				if err := s.Stream(ctx, tl); err != nil {
					t.Fatalf("Stream = %v, want nil", err)
				}
				if elapsed := time.Since(start); elapsed != time.Second+interval/2 {
					t.Errorf("Stream returned %v after start, want %v (at the deadline)", elapsed, time.Second+interval/2)
				}

				events, frames := tl.snapshot()
				want := append(append([]string{"on", "started"}, frameEvents(tt.fps)...), "off")
				if !slices.Equal(events, want) {
					t.Fatalf("events = %v,\nwant %v", events, want)
				}
				wantFormat := Format{Width: tt.w, Height: tt.h, Pixel: tt.pixel, FPSNum: tt.fps, FPSDen: 1}
				if tl.format != wantFormat || s.Format() != wantFormat {
					t.Errorf("Started(%v), Format() = %v; want %v", tl.format, s.Format(), wantFormat)
				}
				stamped := tt.w >= StampWidth && tt.h >= StampHeight
				for i, fr := range frames {
					wantTime := start.Add(time.Duration(i+1) * interval).UTC()
					switch {
					case fr.seq != uint64(i):
						t.Errorf("frame %d: Seq %d", i, fr.seq)
					case fr.size != wantFormat.FrameSize():
						t.Errorf("frame %d: %d bytes, want %d", i, fr.size, wantFormat.FrameSize())
					case !fr.time.Equal(wantTime):
						t.Errorf("frame %d: Time %v, want %v", i, fr.time, wantTime)
					case fr.stamped != stamped:
						t.Errorf("frame %d: stamped %v, want %v", i, fr.stamped, stamped)
					case stamped && (fr.counter != uint32(i) || !fr.stamp.Equal(fr.time.Truncate(time.Microsecond))):
						t.Errorf("frame %d: stamp %d %v, want %d %v", i, fr.counter, fr.stamp, i, fr.time)
					}
				}
				if s.Opens() != 1 {
					t.Errorf("Opens() = %d, want 1", s.Opens())
				}
			})
		})
	}
}

func TestSyntheticNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		epoch := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
		calls := 0
		s := mustSynthetic(t, SyntheticConfig{Width: 320, Height: 96, Pixel: I420, FPS: 10,
			Now: func() time.Time { calls++; return epoch.Add(time.Duration(calls) * time.Hour) }})
		ctx, cancel := context.WithCancel(bounded(t))
		tl := &timeline{onFrame: func(f *Frame) {
			if f.Seq == 2 {
				cancel()
			}
		}}
		if err := s.Stream(ctx, tl); err != nil {
			t.Fatal(err)
		}
		_, frames := tl.snapshot()
		if len(frames) != 3 {
			t.Fatalf("%d frames, want 3", len(frames))
		}
		for i, fr := range frames {
			want := epoch.Add(time.Duration(i+1) * time.Hour)
			if !fr.time.Equal(want) || !fr.stamp.Equal(want) {
				t.Errorf("frame %d: Time %v, stamp %v; want %v", i, fr.time, fr.stamp, want)
			}
		}
	})
}

func TestSyntheticCancel(t *testing.T) {
	tests := []struct {
		name string
		// cancelAt is the Seq after which the sink cancels; -1 cancels from
		// another goroutine after the first frame, -2 before Stream starts.
		cancelAt int
		frames   int
	}{
		{"in sink after 1 frame", 0, 1},
		{"in sink after 5 frames", 4, 5},
		{"from outside", -1, 1},
		{"before Stream", -2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := mustSynthetic(t, SyntheticConfig{Width: 320, Height: 240, Pixel: YUYV, FPS: 30})
				ctx, cancel := context.WithCancel(bounded(t))
				defer cancel()
				var cancelled time.Time
				first := make(chan struct{})
				tl := &timeline{onFrame: func(f *Frame) {
					if f.Seq == 0 {
						close(first)
					}
					if int(f.Seq) == tt.cancelAt {
						cancelled = time.Now()
						cancel()
					}
				}}
				s.OnStreamOn, s.OnStreamOff = hook(tl, "on"), hook(tl, "off")
				if tt.cancelAt == -2 {
					cancelled = time.Now()
					cancel()
				}

				done := make(chan error, 1)
				go func() { done <- s.Stream(ctx, tl) }()
				if tt.cancelAt == -1 {
					select {
					case <-first:
					case <-ctx.Done():
						t.Fatal("no frame within a minute")
					}
					synctest.Wait() // Stream is waiting for the next tick
					cancelled = time.Now()
					cancel()
				}
				if err := <-done; err != nil {
					t.Fatalf("Stream = %v, want nil", err)
				}
				if d := time.Since(cancelled); d != 0 {
					t.Errorf("Stream returned %v after cancel, want at once", d)
				}
				events, _ := tl.snapshot()
				want := append(append([]string{"on", "started"}, frameEvents(tt.frames)...), "off")
				if !slices.Equal(events, want) {
					t.Errorf("events = %v, want %v", events, want)
				}
				// synctest.Test fails if Stream left a goroutine behind.
			})
		})
	}
}

func TestSyntheticFailAfter(t *testing.T) {
	errCustom := errors.New("usb disconnect")
	tests := []struct {
		name string
		n    int
		err  error
	}{
		{"at once", 0, nil},
		{"after 3 frames", 3, errCustom},
		{"wrapping ErrLost", 2, fmt.Errorf("ENODEV: %w", ErrLost)},
		{"after 1 frame", 1, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tl := &timeline{}
				s := mustSynthetic(t, SyntheticConfig{Width: 320, Height: 240, Pixel: I420, FPS: 20})
				s.OnStreamOn, s.OnStreamOff = hook(tl, "on"), hook(tl, "off")
				s.FailAfter(tt.n, tt.err)
				start := time.Now()

				for run := range 2 { // the fault persists
					err := s.Stream(bounded(t), tl)
					if !errors.Is(err, ErrLost) || (tt.err != nil && !errors.Is(err, tt.err)) {
						t.Fatalf("run %d: Stream = %v, want an error wrapping ErrLost and %v", run, err, tt.err)
					}
					if elapsed, want := time.Since(start), time.Duration(tt.n)*(time.Second/20); elapsed != want {
						t.Errorf("run %d: failed after %v, want %v (right after frame %d)", run, elapsed, want, tt.n)
					}
					start = time.Now()
				}
				one := append(append([]string{"on", "started"}, frameEvents(tt.n)...), "off")
				if events, _ := tl.snapshot(); !slices.Equal(events, slices.Concat(one, one)) {
					t.Errorf("events = %v, want %v twice", events, one)
				}

				s.FailAfter(-1, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 210*time.Millisecond)
				defer cancel()
				if err := s.Stream(ctx, &timeline{}); err != nil {
					t.Errorf("after disarming: Stream = %v, want nil", err)
				}
				if s.Opens() != 3 {
					t.Errorf("Opens() = %d, want 3", s.Opens())
				}
			})
		})
	}
}

func TestSyntheticFailAfterArmedWhileStreaming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSynthetic(t, SyntheticConfig{Width: 320, Height: 240, Pixel: I420, FPS: 30})
		tl := &timeline{}
		tl.onFrame = func(f *Frame) {
			if f.Seq == 4 {
				s.FailAfter(2, nil) // already past: fail before the next frame
			}
		}
		err := s.Stream(bounded(t), tl)
		if !errors.Is(err, ErrLost) {
			t.Fatalf("Stream = %v, want ErrLost", err)
		}
		if _, frames := tl.snapshot(); len(frames) != 5 {
			t.Errorf("%d frames, want 5", len(frames))
		}
	})
}

func TestSyntheticOpensAndBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSynthetic(t, SyntheticConfig{Width: 320, Height: 240, Pixel: I420, FPS: 30})
		if n := s.Opens(); n != 0 {
			t.Fatalf("Opens() = %d before Stream, want 0", n)
		}
		// One second of fake time, ending between two ticks.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second+time.Second/60)
		defer cancel()
		tl := &timeline{}
		done := make(chan error, 1)
		go func() { done <- s.Stream(ctx, tl) }()
		synctest.Wait()
		if n := s.Opens(); n != 1 {
			t.Errorf("Opens() = %d while streaming, want 1", n)
		}

		if err := s.Stream(ctx, &timeline{}); err == nil || errors.Is(err, ErrLost) {
			t.Errorf("second concurrent Stream = %v, want a busy error", err)
		}
		if n := s.Opens(); n != 2 {
			t.Errorf("Opens() = %d, want 2", n)
		}

		// The first stream is unaffected.
		if err := <-done; err != nil {
			t.Fatalf("Stream = %v", err)
		}
		if _, frames := tl.snapshot(); len(frames) != 30 {
			t.Errorf("first stream delivered %d frames in 1s, want 30", len(frames))
		}

		// Once the first stream is over, the device can be opened again.
		ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel2()
		if err := s.Stream(ctx2, &timeline{}); err != nil {
			t.Errorf("Stream after the first ended = %v, want nil", err)
		}
		if n := s.Opens(); n != 3 {
			t.Errorf("Opens() = %d, want 3", n)
		}
	})
}
