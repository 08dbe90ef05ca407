// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

func TestShutterDriveLevel(t *testing.T) {
	tests := []struct {
		activeLow bool
		open      bool
		want      pgpio.Level
	}{
		{activeLow: false, open: true, want: pgpio.High},
		{activeLow: false, open: false, want: pgpio.Low},
		{activeLow: true, open: true, want: pgpio.Low},
		{activeLow: true, open: false, want: pgpio.High},
	}
	for _, tt := range tests {
		for _, mode := range []string{"", ModeLevel} {
			pin := newPin("SHUT")
			pin.L = !tt.want
			s, err := NewShutter(ShutterConfig{Mode: mode, ActiveLow: tt.activeLow}, pin, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Drive(tt.open); err != nil {
				t.Fatal(err)
			}
			if got := pin.Read(); got != tt.want {
				t.Errorf("mode %q activeLow=%t Drive(%t): level %s, want %s", mode, tt.activeLow, tt.open, got, tt.want)
			}
			if pin.D != 0 {
				t.Errorf("mode %q: level mode set PWM duty %s", mode, pin.D)
			}
		}
	}
}

func TestShutterDriveServo(t *testing.T) {
	tests := []struct {
		name     string
		cfg      ShutterConfig
		open     bool
		wantDuty pgpio.Duty
		wantFreq physic.Frequency
	}{
		{"default open is 2ms of 20ms", ShutterConfig{Mode: ModeServo}, true, pgpio.DutyMax / 10, 50 * physic.Hertz},
		{"default closed is 1ms of 20ms", ShutterConfig{Mode: ModeServo}, false, pgpio.DutyMax / 20, 50 * physic.Hertz},
		{"custom open", ShutterConfig{Mode: ModeServo, OpenDuty: 1000, ClosedDuty: 2000, Frequency: 300 * physic.Hertz}, true, 1000, 300 * physic.Hertz},
		{"custom closed", ShutterConfig{Mode: ModeServo, OpenDuty: 1000, ClosedDuty: 2000, Frequency: 300 * physic.Hertz}, false, 2000, 300 * physic.Hertz},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pin := newPin("GPIO18")
			s, err := NewShutter(tt.cfg, pin, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Drive(tt.open); err != nil {
				t.Fatal(err)
			}
			if pin.D != tt.wantDuty || pin.F != tt.wantFreq {
				t.Errorf("PWM(%d, %s), want PWM(%d, %s)", pin.D, pin.F, tt.wantDuty, tt.wantFreq)
			}
		})
	}
}

func TestShutterHaltCloses(t *testing.T) {
	for _, cfg := range []ShutterConfig{{ActiveLow: true}, {Mode: ModeServo}} {
		pin := newPin("SHUT")
		s, err := NewShutter(cfg, pin, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Drive(true); err != nil {
			t.Fatal(err)
		}
		if err := s.Halt(); err != nil {
			t.Fatal(err)
		}
		if cfg.Mode == ModeServo && pin.D != DefaultClosedDuty {
			t.Errorf("servo: after Halt duty %d, want closed %d", pin.D, DefaultClosedDuty)
		}
		if cfg.Mode == "" && pin.Read() != pgpio.High {
			t.Errorf("active-low level: after Halt level %s, want High (closed)", pin.Read())
		}
	}
}

func TestShutterDriveError(t *testing.T) {
	for _, mode := range []string{ModeLevel, ModeServo} {
		s, err := NewShutter(ShutterConfig{Mode: mode}, failPin{newPin("GPIO18")}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Drive(true)
		if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "GPIO18") {
			t.Errorf("%s: Drive error = %v, want it to wrap %v and name GPIO18", mode, err, errBroken)
		}
	}
}

func TestNewShutterInvalid(t *testing.T) {
	tests := []struct {
		name  string
		cfg   ShutterConfig
		nilIO bool
		want  string
	}{
		{"unknown mode", ShutterConfig{Mode: "pwm"}, false, "mode"},
		{"negative debounce", ShutterConfig{Debounce: -time.Second}, false, "debounce"},
		{"negative poll", ShutterConfig{PollInterval: -1}, false, "poll_interval"},
		{"duty above max", ShutterConfig{Mode: ModeServo, OpenDuty: pgpio.DutyMax + 1}, false, "open_duty"},
		{"negative duty", ShutterConfig{Mode: ModeServo, ClosedDuty: -1}, false, "closed_duty"},
		{"equal duties", ShutterConfig{Mode: ModeServo, OpenDuty: DefaultClosedDuty}, false, "equals closed_duty"},
		{"negative frequency", ShutterConfig{Mode: ModeServo, Frequency: -physic.Hertz}, false, "frequency"},
		{"nil drive pin", ShutterConfig{}, true, "drive pin is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var drive pgpio.PinOut = newPin("SHUT")
			if tt.nilIO {
				drive = nil
			}
			_, err := NewShutter(tt.cfg, drive, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewShutter error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestShutterNoFeedback(t *testing.T) {
	s, err := NewShutter(ShutterConfig{}, newPin("SHUT"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.HasFeedback() {
		t.Error("HasFeedback() = true without a feedback pin")
	}
	if ch := s.Watch(t.Context()); ch != nil {
		t.Error("Watch returned a channel without a feedback pin")
	}
}

func TestShutterWatchInitial(t *testing.T) {
	tests := []struct {
		activeLow bool
		level     pgpio.Level
		want      bool
	}{
		{activeLow: false, level: pgpio.High, want: true},
		{activeLow: false, level: pgpio.Low, want: false},
		{activeLow: true, level: pgpio.Low, want: true},
		{activeLow: true, level: pgpio.High, want: false},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			fb := newPin("FB")
			s, err := NewShutter(ShutterConfig{FeedbackActiveLow: tt.activeLow}, newPin("SHUT"), fb, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !s.HasFeedback() {
				t.Fatal("HasFeedback() = false with a feedback pin")
			}
			_ = fb.Out(tt.level) // after In, which applies the pull
			if got := <-closeOnCleanup(t, s.Watch(t.Context())); got != tt.want {
				t.Errorf("activeLow=%t level %s: first value %t, want %t", tt.activeLow, tt.level, got, tt.want)
			}
		})
	}
}

// recv returns the values ch holds now, after the bubble settles.
func recv[T any](ch <-chan T) []T {
	synctest.Wait()
	var got []T
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, v)
		default:
			return got
		}
	}
}

func TestShutterWatchDebounce(t *testing.T) {
	const debounce = 20 * time.Millisecond
	for _, kind := range inputKinds {
		t.Run(kind.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := kind.make()
				s, err := NewShutter(ShutterConfig{FeedbackActiveLow: true, Debounce: debounce}, newPin("SHUT"), in.pin, nil)
				if err != nil {
					t.Fatal(err)
				}
				ch := closeOnCleanup(t, s.Watch(t.Context()))
				if got := recv(ch); len(got) != 1 || got[0] {
					t.Fatalf("initial values %v, want [false] (pulled up = closed)", got)
				}

				// A glitch shorter than the debounce is ignored.
				in.set(pgpio.Low)
				time.Sleep(debounce / 4)
				in.set(pgpio.High)
				time.Sleep(5 * debounce)
				if got := recv(ch); len(got) != 0 {
					t.Fatalf("glitch of %s emitted %v", debounce/4, got)
				}

				// A stable change is emitted once, not before the debounce.
				in.set(pgpio.Low)
				start := time.Now()
				time.Sleep(debounce - time.Millisecond)
				if got := recv(ch); len(got) != 0 {
					t.Fatalf("emitted %v before the debounce elapsed", got)
				}
				time.Sleep(debounce + 2*DefaultPollInterval)
				if got := recv(ch); len(got) != 1 || !got[0] {
					t.Fatalf("stable open emitted %v by %s, want [true]", got, time.Since(start))
				}
				time.Sleep(time.Second)
				if got := recv(ch); len(got) != 0 {
					t.Fatalf("emitted %v more while the level stayed", got)
				}

				// And back to closed.
				in.set(pgpio.High)
				time.Sleep(debounce + 2*DefaultPollInterval)
				if got := recv(ch); len(got) != 1 || got[0] {
					t.Fatalf("stable close emitted %v, want [false]", got)
				}
				checkMode(t, in)
			})
		})
	}
}

// checkMode checks that a watcher on a pin without working edges polls:
// it gave up on WaitForEdge after immediateLimit tries, or never used it.
func checkMode(t *testing.T, in inputPin) {
	t.Helper()
	if in.waits == nil {
		return
	}
	want := int32(0)
	if in.edges {
		want = immediateLimit
	}
	if got := in.waits.Load(); got != want {
		t.Errorf("WaitForEdge called %d times, want %d (then polling)", got, want)
	}
}
