// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

// ButtonConfig configures a Button. Zero fields take the defaults noted.
type ButtonConfig struct {
	// ActiveLow means the pin reads low while the button is pressed.
	ActiveLow bool `toml:"active_low"`
	// Debounce is how long a press must be stable to count; default
	// DefaultButtonDebounce.
	Debounce time.Duration `toml:"debounce"`
	// PollInterval is the polling period used when the pin has no edge
	// detection; default DefaultPollInterval.
	PollInterval time.Duration `toml:"poll_interval"`
}

func (c ButtonConfig) withDefaults() ButtonConfig {
	if c.Debounce == 0 {
		c.Debounce = DefaultButtonDebounce
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// problems lists what is wrong with c, each error naming its key after
// prefix.
func (c ButtonConfig) problems(prefix string) []error {
	var errs []error
	if c.Debounce < 0 {
		errs = append(errs, fmt.Errorf("%sdebounce: must not be negative, got %s", prefix, c.Debounce))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("%spoll_interval: must not be negative, got %s", prefix, c.PollInterval))
	}
	return errs
}

// Button is the technician's momentary privacy toggle button.
type Button struct {
	in *input
}

// NewButton validates cfg and configures pin as the button input. A nil log
// discards.
func NewButton(cfg ButtonConfig, pin pgpio.PinIn, log *slog.Logger) (*Button, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	errs := cfg.problems("")
	if pin == nil {
		errs = append(errs, errors.New("pin is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gpio: button: %w", err)
	}
	cfg = cfg.withDefaults()
	in, err := newInput("button", pin, cfg.ActiveLow, cfg.Debounce, cfg.PollInterval, log)
	if err != nil {
		return nil, err
	}
	return &Button{in: in}, nil
}

// Presses emits one value per debounced press: a release-to-press
// transition that stays stable for the debounce time. A pulse shorter than
// that produces nothing, and a button already held when Presses is called
// counts only after it is released and pressed again. When ctx is done the
// channel is closed and the watching goroutine has ended.
func (b *Button) Presses(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		first := true
		b.in.run(ctx, func(pressed bool) bool {
			if first || !pressed {
				first = false
				return true
			}
			select {
			case out <- struct{}{}:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return out
}
