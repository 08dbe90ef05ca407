// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	pgpio "periph.io/x/conn/v3/gpio"
)

// Devices is camnode's privacy hardware, as opened by Open.
type Devices struct {
	// LED is the recording LED.
	LED *LED
	// Shutter is the privacy shutter.
	Shutter *Shutter
	// Button is the privacy button; nil if not configured.
	Button *Button
}

// Open validates cfg, resolves its pins through periph and returns the
// devices with the LED off and the shutter driven closed. The caller must
// have called host.Init. A nil log discards.
func Open(cfg Config, log *slog.Logger) (*Devices, error) {
	return open(cfg, log, lookupHostPin)
}

// open is Open with the pin lookup injected, for tests.
func open(cfg Config, log *slog.Logger, lookup func(PinRef) (pgpio.PinIO, error)) (*Devices, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	var mu sync.Mutex // one driver operation at a time: see serialPin
	pin := func(key string, ref PinRef) pgpio.PinIO {
		if ref == "" {
			return nil
		}
		p, err := lookup(ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("gpio: %s: %w", key, err))
			return nil
		}
		return serialPin{PinIO: p, mu: &mu, ref: ref}
	}
	ledPin := pin("led", cfg.LED)
	shutterPin := pin("shutter", cfg.Shutter)
	feedbackPin := pin("shutter_feedback", cfg.ShutterFeedback)
	buttonPin := pin("button", cfg.Button)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var feedback pgpio.PinIn // a nil PinIO must stay a nil interface
	if feedbackPin != nil {
		feedback = feedbackPin
	}
	shutter, err := NewShutter(cfg.ShutterConfig, shutterPin, feedback, log)
	if err != nil {
		return nil, err
	}
	d := &Devices{LED: NewLED(ledPin, cfg.LEDActiveLow), Shutter: shutter}
	if buttonPin != nil {
		if d.Button, err = NewButton(cfg.ButtonConfig, buttonPin, log); err != nil {
			return nil, err
		}
	}
	// Privacy first: start dark and closed, and find a broken drive now.
	if err := d.Halt(); err != nil {
		return nil, fmt.Errorf("gpio: set initial state: %w", err)
	}
	log.Info("gpio: devices open", "led", cfg.LED, "shutter", cfg.Shutter,
		"mode", shutter.cfg.Mode, "feedback", cfg.ShutterFeedback, "button", cfg.Button)
	return d, nil
}

// Halt drives the shutter closed and turns the LED off, in that order so
// the LED is never dark while the shutter may be open. It attempts both and
// returns their errors joined.
func (d *Devices) Halt() error {
	var errs []error
	if d.Shutter != nil {
		errs = append(errs, d.Shutter.Halt())
	}
	if d.LED != nil {
		errs = append(errs, d.LED.Halt())
	}
	return errors.Join(errs...)
}
