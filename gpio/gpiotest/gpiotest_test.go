// SPDX-License-Identifier: Apache-2.0

package gpiotest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camnode/camnode/gpio"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// The fakes must stay interchangeable with the real devices.
type (
	led interface {
		Set(on bool) error
		Halt() error
	}
	shutter interface {
		Drive(open bool) error
		HasFeedback() bool
		Watch(ctx context.Context) <-chan bool
		Halt() error
	}
	button interface {
		Presses(ctx context.Context) <-chan struct{}
	}
)

var (
	_ led     = (*gpio.LED)(nil)
	_ led     = (*gpiotest.LED)(nil)
	_ shutter = (*gpio.Shutter)(nil)
	_ shutter = (*gpiotest.Shutter)(nil)
	_ button  = (*gpio.Button)(nil)
	_ button  = (*gpiotest.Button)(nil)
)

func TestLogOrderAndTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log gpiotest.Log
		start := time.Now()
		log.Add("led", "on")
		time.Sleep(time.Second)
		log.Add("capture", "streamon")
		got := log.Entries()
		want := []gpiotest.Entry{
			{Seq: 1, Time: start, Device: "led", Value: "on"},
			{Seq: 2, Time: start.Add(time.Second), Device: "capture", Value: "streamon"},
		}
		if len(got) != len(want) {
			t.Fatalf("Entries() = %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		ledOn, ok1 := log.Find("led", "on")
		stream, ok2 := log.Find("capture", "streamon")
		if !ok1 || !ok2 || ledOn.Seq >= stream.Seq {
			t.Errorf("Find: led on %+v (%t), streamon %+v (%t)", ledOn, ok1, stream, ok2)
		}
		if _, ok := log.Find("led", "off"); ok {
			t.Error("Find found an entry that was never added")
		}
		got[0].Device = "changed"
		if log.Entries()[0].Device != "led" {
			t.Error("Entries() returned the Log's own slice")
		}
	})
}

func TestLogConcurrent(t *testing.T) {
	var log gpiotest.Log
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				log.Add(fmt.Sprint("dev", w), fmt.Sprint(i))
			}
		})
	}
	wg.Wait()
	entries := log.Entries()
	if len(entries) != 800 {
		t.Fatalf("%d entries, want 800", len(entries))
	}
	last := map[string]int{}
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has Seq %d", i, e.Seq)
		}
		var v int
		fmt.Sscan(e.Value, &v)
		if prev, ok := last[e.Device]; ok && v != prev+1 {
			t.Fatalf("%s: value %d after %d: per-writer order lost", e.Device, v, prev)
		}
		last[e.Device] = v
	}
}

func TestNilLog(t *testing.T) {
	var log *gpiotest.Log
	log.Add("led", "on") // must not panic
	if log.Entries() != nil {
		t.Error("nil Log has entries")
	}
	l := &gpiotest.LED{}
	if err := l.Set(true); err != nil || !l.On() {
		t.Errorf("LED without Log: Set = %v, On = %t", err, l.On())
	}
}

func TestLED(t *testing.T) {
	log := &gpiotest.Log{}
	l := &gpiotest.LED{Log: log}
	steps := []struct {
		on      bool
		fail    error
		wantOn  bool
		writes  int
		entries []string
	}{
		{on: true, wantOn: true, writes: 1, entries: []string{"on"}},
		{on: false, fail: errors.New("dead"), wantOn: true, writes: 1, entries: []string{"on"}},
		{on: false, wantOn: false, writes: 2, entries: []string{"on", "off"}},
		{on: false, wantOn: false, writes: 3, entries: []string{"on", "off", "off"}},
	}
	for i, s := range steps {
		l.SetFail(s.fail)
		err := l.Set(s.on)
		if !errors.Is(err, s.fail) || (s.fail == nil) != (err == nil) {
			t.Errorf("step %d: Set error %v, want %v", i, err, s.fail)
		}
		if l.On() != s.wantOn || l.Writes() != s.writes {
			t.Errorf("step %d: On %t Writes %d, want %t %d", i, l.On(), l.Writes(), s.wantOn, s.writes)
		}
		var got []string
		for _, e := range log.Entries() {
			if e.Device != "led" {
				t.Errorf("step %d: device %q, want led", i, e.Device)
			}
			got = append(got, e.Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(s.entries) {
			t.Errorf("step %d: log %v, want %v", i, got, s.entries)
		}
	}
	if err := l.Set(true); err != nil {
		t.Fatal(err)
	}
	if err := l.Halt(); err != nil || l.On() {
		t.Errorf("Halt = %v, On = %t; want off", err, l.On())
	}
}

// next receives from ch once the bubble settles; ok is false if nothing
// (or a close) is there.
func next[T any](ch <-chan T) (v T, ok bool) {
	synctest.Wait()
	select {
	case v, ok = <-ch:
		return v, ok
	default:
		return v, false
	}
}

func TestShutterAutoFeedback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &gpiotest.Log{}
		s := &gpiotest.Shutter{Log: log, Feedback: true, AutoFeedback: true, FeedbackDelay: 100 * time.Millisecond}
		ch := s.Watch(t.Context())
		if v, ok := next(ch); !ok || v {
			t.Fatalf("first value %t, %t; want closed", v, ok)
		}
		if err := s.Drive(true); err != nil {
			t.Fatal(err)
		}
		if !s.IsOpen() || s.SensorOpen() {
			t.Fatalf("right after Drive(true): driven %t sensor %t; want true false", s.IsOpen(), s.SensorOpen())
		}
		time.Sleep(99 * time.Millisecond)
		if v, ok := next(ch); ok {
			t.Fatalf("sensor moved early: %t", v)
		}
		time.Sleep(time.Millisecond)
		if v, ok := next(ch); !ok || !v || !s.SensorOpen() {
			t.Fatalf("after the delay: %t, %t, sensor %t; want open", v, ok, s.SensorOpen())
		}

		// A drive superseded within the delay never reaches the sensor.
		_ = s.Drive(false)
		time.Sleep(50 * time.Millisecond)
		_ = s.Drive(true)
		time.Sleep(time.Second)
		if v, ok := next(ch); ok {
			t.Fatalf("superseded drive emitted %t", v)
		}
		if !s.SensorOpen() || s.Drives() != 3 {
			t.Errorf("sensor %t drives %d; want open, 3", s.SensorOpen(), s.Drives())
		}
		var got []string
		for _, e := range log.Entries() {
			got = append(got, e.Device+"="+e.Value)
		}
		if want := "[shutter=open shutter=close shutter=open]"; fmt.Sprint(got) != want {
			t.Errorf("log %v, want %s", got, want)
		}
	})
}

func TestShutterStuckAndFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &gpiotest.Shutter{Feedback: true, AutoFeedback: true}
		ch := s.Watch(t.Context())
		next(ch) // initial closed
		if err := s.Drive(true); err != nil {
			t.Fatal(err)
		}
		if v, ok := next(ch); !ok || !v {
			t.Fatalf("zero delay: %t, %t; want open at once", v, ok)
		}

		s.SetStuck(true)
		_ = s.Drive(false)
		time.Sleep(time.Second)
		if v, ok := next(ch); ok || !s.SensorOpen() || s.IsOpen() {
			t.Fatalf("stuck: emitted %t (%t), sensor %t, driven %t; want nothing, open, closed", v, ok, s.SensorOpen(), s.IsOpen())
		}
		s.SetSensor(false) // a test can still move it
		if v, ok := next(ch); !ok || v {
			t.Fatalf("SetSensor(false) while stuck: %t, %t", v, ok)
		}
		s.SetSensor(false)
		if v, ok := next(ch); ok {
			t.Fatalf("SetSensor without change emitted %t", v)
		}

		boom := errors.New("coil open")
		s.SetFail(boom)
		if err := s.Drive(true); !errors.Is(err, boom) || s.IsOpen() || s.Drives() != 2 {
			t.Fatalf("failing Drive = %v, driven %t, drives %d; want %v, closed, 2", err, s.IsOpen(), s.Drives(), boom)
		}
	})
}

func TestShutterWatch(t *testing.T) {
	if ch := (&gpiotest.Shutter{}).Watch(t.Context()); ch != nil {
		t.Error("Watch without Feedback returned a channel")
	}
	synctest.Test(t, func(t *testing.T) {
		s := &gpiotest.Shutter{Feedback: true}
		s.SetSensor(true)
		ctx, cancel := context.WithCancel(t.Context())
		a, b := s.Watch(ctx), s.Watch(t.Context())
		for _, ch := range []<-chan bool{a, b} {
			if v, ok := next(ch); !ok || !v {
				t.Fatalf("first value %t, %t; want the current sensor, open", v, ok)
			}
		}
		cancel()
		synctest.Wait()
		if _, ok := <-a; ok {
			t.Fatal("Watch channel not closed after cancel")
		}
		s.SetSensor(false)
		if v, ok := next(b); !ok || v {
			t.Fatalf("remaining watcher got %t, %t; want closed", v, ok)
		}
	})
}

func TestButton(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &gpiotest.Button{}
		b.Press() // before anyone listens: held for the first subscriber
		ctx, cancel := context.WithCancel(t.Context())
		ch := b.Presses(ctx)
		if _, ok := next(ch); !ok {
			t.Fatal("press made before Presses was lost")
		}
		if _, ok := next(ch); ok {
			t.Fatal("one press delivered twice")
		}
		b.Press()
		b.Press()
		n := 0
		for range 3 {
			if _, ok := next(ch); ok {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d presses delivered, want 2", n)
		}
		cancel()
		synctest.Wait()
		if _, ok := <-ch; ok {
			t.Fatal("Presses channel not closed after cancel")
		}
	})
}
