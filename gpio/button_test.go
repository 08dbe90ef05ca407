// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
)

func TestButtonPresses(t *testing.T) {
	const debounce = 30 * time.Millisecond
	for _, kind := range inputKinds {
		for _, activeLow := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/activeLow=%t", kind.name, activeLow), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					in := kind.make()
					b, err := NewButton(ButtonConfig{ActiveLow: activeLow}, in.pin, nil)
					if err != nil {
						t.Fatal(err)
					}
					pressed, released := pgpio.High, pgpio.Low
					if activeLow {
						pressed, released = released, pressed
					}
					if got := in.pin.Read(); got != released {
						t.Fatalf("idle level %s, want %s: the pull should hold the button released", got, released)
					}
					ch := closeOnCleanup(t, b.Presses(t.Context()))
					if got := recv(ch); len(got) != 0 {
						t.Fatalf("idle button emitted %d presses", len(got))
					}

					// Bounce: pulses shorter than the debounce produce nothing.
					// The gaps are longer than the poll interval, so that a
					// poller sees them too.
					for range 5 {
						in.set(pressed)
						time.Sleep(debounce * 2 / 3)
						in.set(released)
						time.Sleep(debounce * 5 / 6)
					}
					time.Sleep(5 * debounce)
					if got := recv(ch); len(got) != 0 {
						t.Fatalf("bounce emitted %d presses", len(got))
					}

					// A clean press held for a long time counts once.
					in.set(pressed)
					time.Sleep(debounce - time.Millisecond)
					if got := recv(ch); len(got) != 0 {
						t.Fatal("press emitted before the debounce elapsed")
					}
					time.Sleep(time.Second)
					if got := recv(ch); len(got) != 1 {
						t.Fatalf("held press emitted %d presses, want 1", len(got))
					}

					// Releasing emits nothing; pressing again counts again.
					in.set(released)
					time.Sleep(time.Second)
					if got := recv(ch); len(got) != 0 {
						t.Fatalf("release emitted %d presses", len(got))
					}
					in.set(pressed)
					time.Sleep(time.Second)
					if got := recv(ch); len(got) != 1 {
						t.Fatalf("second press emitted %d presses, want 1", len(got))
					}
					checkMode(t, in)
				})
			})
		}
	}
}

func TestButtonHeldAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newPin("BTN")
		b, err := NewButton(ButtonConfig{ActiveLow: true}, pin, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = pin.Out(pgpio.Low) // held down before anyone watches
		ch := closeOnCleanup(t, b.Presses(t.Context()))
		time.Sleep(time.Second)
		if got := recv(ch); len(got) != 0 {
			t.Fatalf("button held at start emitted %d presses", len(got))
		}
	})
}

func TestNewButtonInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  ButtonConfig
		pin  pgpio.PinIn
		want string
	}{
		{"negative debounce", ButtonConfig{Debounce: -time.Millisecond}, newPin("BTN"), "debounce"},
		{"negative poll", ButtonConfig{PollInterval: -time.Millisecond}, newPin("BTN"), "poll_interval"},
		{"nil pin", ButtonConfig{}, nil, "pin is nil"},
		{"In fails", ButtonConfig{}, &pinNoIn{}, "configure input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewButton(tt.cfg, tt.pin, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewButton error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestWatchersStop checks that Watch and Presses close their channel when
// their context is done and leave no goroutine behind, for each kind of
// pin, and that a pin whose Halt interrupts WaitForEdge stops at once.
func TestWatchersStop(t *testing.T) {
	type watcher func(ctx context.Context, pin pgpio.PinIn) (<-chan struct{}, error)
	watchers := map[string]watcher{
		"Shutter.Watch": func(ctx context.Context, pin pgpio.PinIn) (<-chan struct{}, error) {
			s, err := NewShutter(ShutterConfig{}, newPin("SHUT"), pin, nil)
			if err != nil {
				return nil, err
			}
			return forward(s.Watch(ctx)), nil
		},
		"Button.Presses": func(ctx context.Context, pin pgpio.PinIn) (<-chan struct{}, error) {
			b, err := NewButton(ButtonConfig{}, pin, nil)
			if err != nil {
				return nil, err
			}
			return b.Presses(ctx), nil
		},
	}
	kinds := append(inputKinds[:len(inputKinds):len(inputKinds)], struct {
		name string
		make func() inputPin
	}{"halt interrupts", func() inputPin {
		p := &haltPin{Pin: newPin("IN"), halt: make(chan struct{}, 1)}
		return inputPin{pin: p, edges: true}
	}})
	for wname, watch := range watchers {
		for _, kind := range kinds {
			t.Run(wname+"/"+kind.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					in := kind.make()
					ctx, cancel := context.WithCancel(t.Context())
					ch, err := watch(ctx, in.pin)
					if err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Second)
					synctest.Wait()
					if n := watcherGoroutines(); n == 0 {
						t.Fatal("no watcher goroutine found while watching")
					}
					cancel()
					start := time.Now()
					for range ch {
					}
					if took := time.Since(start); took > maxEdgeWait {
						t.Errorf("channel closed %s after cancel, want <= %s", took, maxEdgeWait)
					}
					if _, ok := in.pin.(*haltPin); ok && time.Since(start) != 0 {
						t.Errorf("Halt did not interrupt WaitForEdge: closed after %s", time.Since(start))
					}
					synctest.Wait()
					if n := watcherGoroutines(); n != 0 {
						t.Errorf("%d watcher goroutines left after the channel closed", n)
					}
				})
			})
		}
	}
}

// forward turns a Watch channel into a done channel that closes when it
// does, draining its values.
func forward(ch <-chan bool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
		}
	}()
	return done
}

// watcherGoroutines counts the goroutines running this package's
// watchers, including context.AfterFunc callbacks they registered.
func watcherGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for _, marker := range []string{"gpio.(*input).", "gpio.(*Shutter).", "gpio.(*Button)."} {
			if strings.Contains(g, marker) {
				n++
				break
			}
		}
	}
	return n
}

// TestButtonEdgeRestartsDebounce: an edge event while the level already
// reads pressed means the contact bounced in between; the stability
// window starts again.
func TestButtonEdgeRestartsDebounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newPin("BTN")
		b, err := NewButton(ButtonConfig{ActiveLow: true, Debounce: 30 * time.Millisecond}, pin, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := closeOnCleanup(t, b.Presses(t.Context()))
		pin.EdgesChan <- pgpio.Low
		time.Sleep(20 * time.Millisecond)
		pin.EdgesChan <- pgpio.Low // released and pressed again between reads
		time.Sleep(20 * time.Millisecond)
		if got := recv(ch); len(got) != 0 {
			t.Fatal("press emitted 30ms after the first edge, ignoring the second")
		}
		time.Sleep(10 * time.Millisecond)
		if got := recv(ch); len(got) != 1 {
			t.Fatalf("%d presses 30ms after the last edge, want 1", len(got))
		}
	})
}
