// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/capture"
)

// stampLED and stampShutter record when they were last written, for the
// latency benchmark. They are not gpiotest fakes because those log every
// write, which would be measured too.
type stampLED struct{ off atomic.Int64 }

func (l *stampLED) Set(on bool) error {
	if !on {
		l.off.Store(time.Now().UnixNano())
	}
	return nil
}

type stampShutter struct{ closed atomic.Int64 }

func (s *stampShutter) Drive(open bool) error {
	if !open {
		s.closed.Store(time.Now().UnixNano())
	}
	return nil
}
func (s *stampShutter) HasFeedback() bool                 { return false }
func (s *stampShutter) Watch(context.Context) <-chan bool { return nil }

type stampSink struct {
	cut    atomic.Int64
	frames atomic.Int64
	live   chan struct{}
	once   sync.Mutex
}

func (s *stampSink) WriteFrame(*capture.Frame) {
	s.frames.Add(1)
	s.once.Lock()
	if s.live != nil {
		close(s.live)
		s.live = nil
	}
	s.once.Unlock()
}
func (s *stampSink) Cut() { s.cut.Store(time.Now().UnixNano()) }

// BenchmarkPrivacyOnLatency measures, over b.N privacy-on requests made
// while frames flow, the time from the request to (a) the frame gate being
// closed (consumers cut), (b) the shutter write, (c) the LED write. It
// reports p50 and p99 of each in microseconds, and of a baseline: a no-op
// request round trip through the owner loop (Ping) in the same run.
//
//	go test -run '^$' -bench PrivacyOnLatency -benchtime 1000x ./agent/
func BenchmarkPrivacyOnLatency(b *testing.B) {
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 320, Height: 240, Pixel: capture.I420, FPS: 120})
	if err != nil {
		b.Fatal(err)
	}
	led, sh, sink := &stampLED{}, &stampShutter{}, &stampSink{}
	id := testIdentity("reception", "Front desk")
	a, err := New(Config{Identity: id, StatePath: filepath.Join(b.TempDir(), "p.json")},
		Deps{LED: led, Shutter: sh, Camera: cam, Sinks: []FrameSink{sink}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var ping, gate, shutter, ledOff []float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		live := make(chan struct{})
		sink.once.Lock()
		sink.live = live
		sink.once.Unlock()
		if _, err := a.SetPrivacy(ctx, false, SourceLocal, "bench"); err != nil {
			b.Fatal(err)
		}
		<-live // a frame passed the gate: the node is really live
		// Baseline in the same run: a no-op round trip through the loop.
		p0 := time.Now()
		if err := a.Ping(ctx); err != nil {
			b.Fatal(err)
		}
		ping = append(ping, float64(time.Since(p0).Nanoseconds())/1e3)
		b.StartTimer()
		t0 := time.Now().UnixNano()
		if _, err := a.SetPrivacy(ctx, true, SourceLocal, "bench"); err != nil {
			b.Fatal(err)
		}
		us := func(t int64) float64 { return float64(t-t0) / 1e3 }
		gate = append(gate, us(sink.cut.Load()))
		shutter = append(shutter, us(sh.closed.Load()))
		ledOff = append(ledOff, us(led.off.Load()))
	}
	b.StopTimer()
	report := func(name string, v []float64) {
		slices.Sort(v)
		b.ReportMetric(v[len(v)/2], name+"-p50-µs")
		b.ReportMetric(v[(len(v)*99)/100], name+"-p99-µs")
	}
	report("ping", ping)
	report("gate", gate)
	report("shutter", shutter)
	report("led", ledOff)
}

// TestFramePathNoAlloc: a frame passing the gate to a consumer allocates
// nothing (the capture goroutine runs this per frame).
func TestFramePathNoAlloc(t *testing.T) {
	sink := &stampSink{}
	a := &Agent{}
	a.gate.sinks = []FrameSink{sink}
	a.gate.set(3)
	s := session{a: a, gen: 3}
	f := &capture.Frame{Data: make([]byte, 640*480*3/2)}
	if n := testing.AllocsPerRun(1000, func() { s.Frame(f) }); n != 0 {
		t.Fatalf("frame path allocates %v times per frame, want 0", n)
	}
	if sink.frames.Load() == 0 {
		t.Fatal("frames did not reach the sink")
	}
	a.gate.set(0)
	before := sink.frames.Load()
	s.Frame(f)
	if sink.frames.Load() != before {
		t.Fatal("frame passed a closed gate")
	}
	// A frame from an older session never passes, even with the gate open.
	a.gate.set(4)
	s.Frame(f)
	if sink.frames.Load() != before {
		t.Fatal("frame of a stale session passed the gate")
	}
}

// BenchmarkFramePath measures the per-frame cost of the gate.
func BenchmarkFramePath(b *testing.B) {
	sink := &stampSink{}
	a := &Agent{}
	a.gate.sinks = []FrameSink{sink}
	a.gate.set(1)
	s := session{a: a, gen: 1}
	f := &capture.Frame{Data: make([]byte, 640*480*3/2)}
	b.ReportAllocs()
	for b.Loop() {
		s.Frame(f)
	}
}
