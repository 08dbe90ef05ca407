// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// Shutter drive modes for ShutterConfig.Mode.
const (
	// ModeLevel drives a solenoid (or a relay) with a steady level.
	ModeLevel = "level"
	// ModeServo drives a hobby servo with PWM.
	ModeServo = "servo"
)

// Defaults applied to zero fields of ShutterConfig and ButtonConfig.
const (
	// DefaultServoFrequency is the servo PWM frequency: a 20 ms period.
	DefaultServoFrequency = 50 * physic.Hertz
	// DefaultOpenDuty is a 2 ms pulse in a 20 ms period.
	DefaultOpenDuty = pgpio.DutyMax / 10
	// DefaultClosedDuty is a 1 ms pulse in a 20 ms period.
	DefaultClosedDuty = pgpio.DutyMax / 20
	// DefaultFeedbackDebounce is the shutter feedback switch debounce.
	DefaultFeedbackDebounce = 20 * time.Millisecond
	// DefaultButtonDebounce is the button debounce.
	DefaultButtonDebounce = 30 * time.Millisecond
	// DefaultPollInterval is the polling period for inputs without edge
	// detection.
	DefaultPollInterval = 10 * time.Millisecond
)

// ShutterConfig configures a Shutter. Zero fields take the defaults noted.
// Duty and Frequency use periph's units: pgpio.ParseDuty and
// physic.Frequency.Set parse them from text such as "10%" and "50Hz".
type ShutterConfig struct {
	// Mode is ModeLevel (solenoid) or ModeServo; empty means ModeLevel.
	Mode string `toml:"mode"`
	// ActiveLow, in level mode, drives the pin low to open the shutter.
	ActiveLow bool `toml:"active_low"`
	// OpenDuty and ClosedDuty are the servo PWM duty cycles for the two
	// positions; defaults DefaultOpenDuty and DefaultClosedDuty.
	OpenDuty   pgpio.Duty `toml:"open_duty"`
	ClosedDuty pgpio.Duty `toml:"closed_duty"`
	// Frequency is the servo PWM frequency; default DefaultServoFrequency.
	Frequency physic.Frequency `toml:"frequency"`
	// FeedbackActiveLow means the feedback input reads low when the shutter
	// is open.
	FeedbackActiveLow bool `toml:"feedback_active_low"`
	// Debounce is how long the feedback level must be stable before a
	// change is reported; default DefaultFeedbackDebounce.
	Debounce time.Duration `toml:"debounce"`
	// PollInterval is the feedback polling period used when the pin has no
	// edge detection; default DefaultPollInterval.
	PollInterval time.Duration `toml:"poll_interval"`
}

// withDefaults returns c with zero fields set to their defaults.
func (c ShutterConfig) withDefaults() ShutterConfig {
	if c.Mode == "" {
		c.Mode = ModeLevel
	}
	if c.OpenDuty == 0 {
		c.OpenDuty = DefaultOpenDuty
	}
	if c.ClosedDuty == 0 {
		c.ClosedDuty = DefaultClosedDuty
	}
	if c.Frequency == 0 {
		c.Frequency = DefaultServoFrequency
	}
	if c.Debounce == 0 {
		c.Debounce = DefaultFeedbackDebounce
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// problems lists what is wrong with c, each error naming its key after
// prefix (for example "shutter_config.").
func (c ShutterConfig) problems(prefix string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	switch c.Mode {
	case "", ModeLevel:
	case ModeServo:
		if c.OpenDuty < 0 || c.OpenDuty > pgpio.DutyMax {
			bad("open_duty", "%d out of range 0..%d", c.OpenDuty, pgpio.DutyMax)
		}
		if c.ClosedDuty < 0 || c.ClosedDuty > pgpio.DutyMax {
			bad("closed_duty", "%d out of range 0..%d", c.ClosedDuty, pgpio.DutyMax)
		}
		if d := c.withDefaults(); d.OpenDuty == d.ClosedDuty {
			bad("open_duty", "equals closed_duty (%d): the shutter would never move", d.OpenDuty)
		}
		if c.Frequency < 0 {
			bad("frequency", "must not be negative, got %s", c.Frequency)
		}
	default:
		bad("mode", "unknown mode %q, want %q or %q", c.Mode, ModeLevel, ModeServo)
	}
	if c.Debounce < 0 {
		bad("debounce", "must not be negative, got %s", c.Debounce)
	}
	if c.PollInterval < 0 {
		bad("poll_interval", "must not be negative, got %s", c.PollInterval)
	}
	return errs
}

// Shutter is the physical privacy shutter: a solenoid driven by a level, or
// a servo driven by PWM, with an optional feedback switch.
type Shutter struct {
	cfg      ShutterConfig // defaults applied
	drive    pgpio.PinOut
	feedback *input // nil without a feedback pin
	log      *slog.Logger
}

// NewShutter validates cfg and returns a shutter driven through drive, with
// feedback as its feedback switch (nil if there is none). It configures the
// feedback input but does not drive the shutter. A nil log discards.
func NewShutter(cfg ShutterConfig, drive pgpio.PinOut, feedback pgpio.PinIn, log *slog.Logger) (*Shutter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	errs := cfg.problems("")
	if drive == nil {
		errs = append(errs, errors.New("drive pin is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gpio: shutter: %w", err)
	}
	s := &Shutter{cfg: cfg.withDefaults(), drive: drive, log: log}
	if feedback != nil {
		in, err := newInput("shutter feedback", feedback, s.cfg.FeedbackActiveLow, s.cfg.Debounce, s.cfg.PollInterval, log)
		if err != nil {
			return nil, err
		}
		s.feedback = in
	}
	return s, nil
}

// Drive opens (open) or closes the shutter. It returns periph's error,
// wrapped with the pin name, if the write fails. In servo mode the PWM
// keeps running so the servo holds its position.
func (s *Shutter) Drive(open bool) error {
	var err error
	if s.cfg.Mode == ModeServo {
		duty := s.cfg.ClosedDuty
		if open {
			duty = s.cfg.OpenDuty
		}
		err = s.drive.PWM(duty, s.cfg.Frequency)
	} else {
		err = s.drive.Out(pgpio.Level(open != s.cfg.ActiveLow))
	}
	if err != nil {
		return fmt.Errorf("gpio: shutter %s: drive %s: %w", s.drive.Name(), openClose(open), err)
	}
	s.log.Debug("gpio: shutter driven", "pin", s.drive.Name(), "state", openClose(open))
	return nil
}

// HasFeedback reports whether the shutter has a feedback switch.
func (s *Shutter) HasFeedback() bool {
	return s.feedback != nil
}

// Watch emits the debounced feedback state (true = open): the current
// value first, then each change, until ctx is done; then the channel is
// closed and the watching goroutine has ended. Watch returns nil if there is
// no feedback pin. Concurrent watchers of one shutter work but share the
// pin's edge events, so they may see changes later.
func (s *Shutter) Watch(ctx context.Context) <-chan bool {
	if s.feedback == nil {
		return nil
	}
	out := make(chan bool, 1)
	go func() {
		defer close(out)
		s.feedback.run(ctx, func(open bool) bool {
			select {
			case out <- open:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return out
}

// Halt drives the shutter closed.
func (s *Shutter) Halt() error {
	return s.Drive(false)
}

func openClose(open bool) string {
	if open {
		return "open"
	}
	return "close"
}
