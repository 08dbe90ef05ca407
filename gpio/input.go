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

const (
	// maxEdgeWait bounds each WaitForEdge call. On timeout the level is read
	// again, which corrects a missed edge, and ctx is checked; it is also the
	// longest a watcher outlives its context on a pin whose Halt does not
	// interrupt WaitForEdge.
	maxEdgeWait = 100 * time.Millisecond
	// immediateLimit is how many consecutive WaitForEdge calls may return
	// false well before their timeout before the watcher decides the pin
	// cannot detect edges and falls back to polling. One such return can be
	// legitimate: another watcher's Halt interrupts a shared pin.
	immediateLimit = 3
)

// input is a debounced digital input shared by Button and the shutter's
// feedback switch.
type input struct {
	pin       pgpio.PinIn
	what      string // "button", "shutter feedback": for errors and logs
	activeLow bool
	pull      pgpio.Pull
	debounce  time.Duration
	poll      time.Duration
	edges     bool // In(pull, BothEdges) succeeded; immutable
	log       *slog.Logger
}

// newInput configures pin as an input pulled toward its inactive level,
// with edge detection if the pin supports it.
func newInput(what string, pin pgpio.PinIn, activeLow bool, debounce, poll time.Duration, log *slog.Logger) (*input, error) {
	in := &input{
		pin:       pin,
		what:      what,
		activeLow: activeLow,
		pull:      pgpio.PullDown,
		debounce:  debounce,
		poll:      poll,
		log:       log,
	}
	if activeLow {
		in.pull = pgpio.PullUp
	}
	edgeErr := pin.In(in.pull, pgpio.BothEdges)
	if edgeErr == nil {
		in.edges = true
		return in, nil
	}
	if err := pin.In(in.pull, pgpio.NoEdge); err != nil {
		return nil, fmt.Errorf("gpio: %s %s: configure input: %w", what, pin.Name(), errors.Join(edgeErr, err))
	}
	log.Info("gpio: edge detection unavailable, polling",
		"input", what, "pin", pin.Name(), "interval", poll, "err", edgeErr)
	return in, nil
}

// active reads the raw level and applies the polarity.
func (in *input) active() bool {
	return bool(in.pin.Read()) != in.activeLow
}

// run calls emit with the current state, then with each debounced change,
// until ctx is done or emit returns false. A change is accepted once the
// level has differed from the last accepted state, with no edge in
// between, for in.debounce.
func (in *input) run(ctx context.Context, emit func(active bool) bool) {
	edges := in.edges
	if edges {
		// Interrupt a pending WaitForEdge (gpioioctl's Halt sets the read
		// deadline to the past) so the watcher exits promptly.
		stop := context.AfterFunc(ctx, func() { _ = in.pin.Halt() })
		defer stop()
	}

	stable := in.active()
	if !emit(stable) {
		return
	}
	var (
		pending   bool      // level differs from stable
		since     time.Time // when the level last became, or bounced to, !stable
		immediate int       // consecutive early false returns of WaitForEdge
	)
	for {
		wait := in.poll
		if edges {
			wait = maxEdgeWait
		}
		if pending {
			wait = min(wait, max(0, in.debounce-time.Since(since)))
		}
		edge := false
		if wait > 0 {
			if edges {
				start := time.Now()
				edge = in.pin.WaitForEdge(wait)
				if ctx.Err() != nil {
					return
				}
				if !edge && time.Since(start) < wait/2 {
					immediate++
					if immediate >= immediateLimit {
						edges = false
						in.log.Warn("gpio: WaitForEdge returns at once, polling",
							"input", in.what, "pin", in.pin.Name(), "interval", in.poll)
					}
				} else {
					immediate = 0
				}
			} else if !sleep(ctx, wait) {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		cur := in.active()
		now := time.Now()
		switch {
		case cur == stable:
			pending = false
		case edge || !pending:
			// A new change, or a bounce within one: (re)start the window.
			pending, since = true, now
		case now.Sub(since) >= in.debounce:
			stable, pending = cur, false
			in.log.Debug("gpio: input changed", "input", in.what, "pin", in.pin.Name(), "active", stable)
			if !emit(stable) {
				return
			}
		}
	}
}

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
