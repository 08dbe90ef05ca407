// SPDX-License-Identifier: Apache-2.0

package gpiotest

import (
	"context"
	"sync"
	"time"
)

// Shutter is a fake privacy shutter with a simulated feedback sensor. Each
// successful Drive is recorded in Log as device "shutter", value "open" or
// "close". The sensor starts closed, like the shutter.
type Shutter struct {
	// Log receives the writes; it may be nil.
	Log *Log
	// Feedback is what HasFeedback reports. Without it, Watch returns nil.
	Feedback bool
	// AutoFeedback makes the sensor follow each Drive after FeedbackDelay
	// (at once when FeedbackDelay is zero). A later Drive cancels a pending
	// change.
	AutoFeedback bool
	// FeedbackDelay is how long the sensor lags the drive with AutoFeedback.
	FeedbackDelay time.Duration
	// Stuck freezes the sensor against AutoFeedback, as a jammed shutter or
	// a broken switch; SetSensor still moves it. Use SetStuck while the fake
	// is in use.
	Stuck bool
	// Fail, when not nil, is returned by Drive, which then changes nothing
	// and records nothing. Use SetFail while the fake is in use.
	Fail error

	mu      sync.Mutex
	open    bool // driven state
	sensor  bool
	drives  int
	pending *time.Timer // AutoFeedback change in flight
	watch   feed[bool]
}

// Drive opens or closes the shutter, or returns Fail.
func (s *Shutter) Drive(open bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return s.Fail
	}
	s.open = open
	s.drives++
	s.Log.Add("shutter", openClose(open))
	if s.pending != nil {
		s.pending.Stop()
		s.pending = nil
	}
	if s.AutoFeedback && !s.Stuck {
		if s.FeedbackDelay <= 0 {
			s.setSensorLocked(open)
		} else {
			var t *time.Timer
			t = time.AfterFunc(s.FeedbackDelay, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.pending != t || s.Stuck {
					return // superseded or stuck since
				}
				s.pending = nil
				s.setSensorLocked(open)
			})
			s.pending = t
		}
	}
	return nil
}

// Halt drives the shutter closed, as gpio.Shutter.Halt does.
func (s *Shutter) Halt() error {
	return s.Drive(false)
}

// HasFeedback reports the Feedback field.
func (s *Shutter) HasFeedback() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Feedback
}

// Watch emits the simulated sensor state (true = open): the current value
// first, then each change, until ctx is done; then the channel is closed.
// It returns nil when Feedback is false, as gpio.Shutter.Watch does without
// a feedback pin.
func (s *Shutter) Watch(ctx context.Context) <-chan bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.Feedback {
		return nil
	}
	return s.watch.subscribe(ctx, s.sensor)
}

// SetSensor moves the simulated sensor, emitting to watchers if it
// changes. It works even when Stuck.
func (s *Shutter) SetSensor(open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setSensorLocked(open)
}

func (s *Shutter) setSensorLocked(open bool) {
	if s.sensor == open {
		return
	}
	s.sensor = open
	s.watch.publish(open)
}

// SetStuck sets Stuck while the fake is in use. Sticking also cancels a
// pending AutoFeedback change.
func (s *Shutter) SetStuck(stuck bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Stuck = stuck
}

// SetFail sets Fail while the fake is in use; nil clears it.
func (s *Shutter) SetFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Fail = err
}

// IsOpen reports the driven state.
func (s *Shutter) IsOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// SensorOpen reports the simulated sensor state.
func (s *Shutter) SensorOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sensor
}

// Drives returns the number of successful Drive calls.
func (s *Shutter) Drives() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drives
}

func openClose(open bool) string {
	if open {
		return "open"
	}
	return "close"
}
