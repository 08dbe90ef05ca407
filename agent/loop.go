// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Run drives the devices until ctx is done, then runs the halt sequence on a
// fresh bounded context (gate closed, capture stopped, shutter closed, LED
// off) and returns. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	watchCtx, stopWatchers := context.WithCancel(context.WithoutCancel(ctx))
	waitWatchers := func() {}
	defer func() {
		a.stopTimers()
		close(a.done) // unblocks helper goroutines sending events
		stopWatchers()
		waitWatchers()
	}()

	// Boot: drive every output to the safe level before anything else, in
	// case a previous process died with them on.
	a.gate.set(0)
	bootErr := errors.Join(a.deps.LED.Set(false), a.deps.Shutter.Drive(false))
	if bootErr != nil {
		a.log.Error("safe boot: could not drive outputs", "err", bootErr)
	}

	ok, reason := a.zone()
	a.apply(EvIdentity{OK: ok, Reason: reason})
	if !ok {
		a.log.Warn("camera locked by zone rule", "reason", reason)
	}
	if bootErr != nil {
		a.apply(EvFailed{Action: ActLED{On: true}, Err: bootErr})
	}
	a.restoreMode()
	waitWatchers = a.startWatchers(watchCtx)

	var (
		shutdown <-chan time.Time
		stopping bool
	)
	ctxDone := ctx.Done()
	for {
		if stopping && a.state.SettledPrivate() {
			if a.state.LEDUnsure || a.state.ShutterUnsure {
				// A safe write failed earlier: try once more on the way out.
				a.forceSafe()
			}
			if a.state.SaveUnsure && !a.state.Viewing {
				// Saving "privacy on" failed: once more, or the next boot
				// may read an old "off".
				if err := SaveMode(a.cfg.StatePath, true); err != nil {
					a.log.Error("privacy on still not saved at exit; the next boot may read an old \"off\"", "err", err)
				}
			}
			a.log.Info("halted")
			return nil
		}
		select {
		case ev := <-a.events:
			a.apply(ev)
		case <-a.refresh:
			a.publish()
		case r := <-a.reqs:
			if _, ok := r.ev.(evPing); ok {
				r.reply <- nil
				continue
			}
			a.nextID++
			id := a.nextID
			a.replies[id] = r.reply
			switch ev := r.ev.(type) {
			case EvPrivacy:
				ev.ID = id
				a.apply(ev)
			case EvShutdown:
				ev.ID = id
				a.apply(ev)
			default:
				delete(a.replies, id)
				r.reply <- fmt.Errorf("BUG: unknown request %T", r.ev)
			}
		case <-ctxDone:
			ctxDone = nil
			stopping = true
			t := time.NewTimer(a.cfg.ShutdownTimeout)
			defer t.Stop()
			shutdown = t.C
			a.log.Info("stopping", "cause", context.Cause(ctx))
			a.apply(EvShutdown{})
		case <-shutdown:
			// The camera did not stop in time. The process is exiting,
			// which closes the device; make the outputs safe regardless.
			a.log.Error("halt sequence timed out; forcing outputs safe")
			a.forceSafe()
			return errors.New("agent: halt sequence timed out")
		}
	}
}

// forceSafe drives every output safe without asking step.
func (a *Agent) forceSafe() {
	a.gate.set(0)
	if a.capCancel != nil {
		a.capCancel()
	}
	if err := a.deps.Shutter.Drive(false); err != nil {
		a.log.Error("shutter close", "err", err)
	}
	if err := a.deps.LED.Set(false); err != nil {
		a.log.Error("LED off", "err", err)
	}
	a.state.Gate, a.state.Shutter, a.state.LED = false, ShutterClosed, false
	a.publish()
}

// restoreMode applies the persisted privacy mode, or the provisioned one on
// first boot. Unreadable state means privacy on.
func (a *Agent) restoreMode() {
	private, found, err := LoadMode(a.cfg.StatePath)
	switch {
	case err != nil:
		a.log.Error("persisted privacy mode unreadable; privacy on", "err", err)
		a.state.Faults[FaultPersist] = "persisted mode unreadable, privacy on: " + err.Error()
		a.apply(EvPrivacy{On: true, Source: SourceStartup, Actor: "unreadable state"})
		a.publish()
		return
	case !found:
		private = a.cfg.Identity.InitialPrivacy != "off"
		a.log.Info("first boot: privacy mode from provisioning", "private", private)
	}
	a.apply(EvPrivacy{On: private, Source: SourceStartup, Actor: "restore"})
}

// apply runs step and executes its actions in order. When an unsafe action
// fails, the rest are skipped and the failure is fed back into step.
func (a *Agent) apply(ev Event) {
	pending := []Event{ev}
	for len(pending) > 0 {
		ev := pending[0]
		pending = pending[1:]
		prev := a.state
		next, acts := step(a.state, ev, a.cfg.Timing)
		acts = withFaultAudits(prev.Faults, next.Faults, acts)
		a.state = next
		if a.log.Enabled(context.Background(), slog.LevelDebug) {
			a.log.Debug("step", "event", fmt.Sprintf("%T", ev), "actions", fmt.Sprint(acts))
		}
		if prev.Viewing != next.Viewing || prev.Cap != next.Cap {
			a.log.Info("transition", "event", fmt.Sprintf("%T", ev),
				"privacy", !next.Viewing, "capture", next.Cap, "shutter", next.Shutter, "led", next.LED)
		}
		for i, act := range acts {
			err := a.exec(act)
			if a.afterAction != nil {
				a.afterAction(act, err)
			}
			if _, saved := act.(ActPersist); saved && err == nil && a.state.Faults[FaultPersist] != "" {
				pending = append(pending, EvSaved{})
			}
			if _, audited := act.(ActAudit); audited && err == nil && a.state.Faults[FaultAudit] != "" {
				pending = append(pending, EvAudited{})
			}
			if err != nil {
				a.log.Error("action failed", "action", fmt.Sprint(act), "err", err)
				pending = append(pending, EvFailed{Action: act, Err: err})
				if !act.safe() {
					a.failReplies(acts[i+1:], act, err)
					break
				}
			}
		}
	}
}

// failReplies answers the replies among skipped actions with the failure
// that skipped them: a request is never left waiting because the action
// before its answer failed (saving "privacy off" is the last action before
// the answer to it).
func (a *Agent) failReplies(skipped []Action, failed Action, err error) {
	for _, act := range skipped {
		if r, ok := act.(ActReply); ok {
			a.exec(ActReply{ID: r.ID, Err: fmt.Errorf("node returned to privacy: %v failed: %w", failed, err)})
		}
	}
}

// exec performs one action.
func (a *Agent) exec(act Action) error {
	switch x := act.(type) {
	case ActGate:
		if x.Open {
			a.gate.set(x.Gen)
		} else {
			a.gate.set(0)
		}
	case ActShutter:
		return a.deps.Shutter.Drive(x.Open)
	case ActLED:
		return a.deps.LED.Set(x.On)
	case ActStartCapture:
		a.startCapture(x.Gen)
	case ActStopCapture:
		if a.capCancel != nil {
			a.capCancel()
		}
	case ActTimer:
		a.arm(x)
	case ActPersist:
		return SaveMode(a.cfg.StatePath, x.Private)
	case ActAudit:
		return a.Record(x.Rec)
	case ActReply:
		if ch, ok := a.replies[x.ID]; ok {
			delete(a.replies, x.ID)
			ch <- x.Err
		}
	case ActPublish:
		a.publish()
	default:
		return fmt.Errorf("BUG: unknown action %T", act)
	}
	return nil
}

// startCapture runs one capture session in its own goroutine. The session
// reports EvCaptureEnded when Stream returned, which is after STREAMOFF.
func (a *Agent) startCapture(gen uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	a.capCancel = cancel
	done := make(chan struct{})
	a.capDone = done
	cam := a.deps.Camera
	go func() {
		defer close(done)
		defer cancel()
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("capture panicked: %v\n%s", p, debug.Stack())
				}
			}()
			if cam == nil {
				err = errors.New("no camera configured")
				return
			}
			err = cam.Stream(ctx, session{a: a, gen: gen})
		}()
		if err == nil && ctx.Err() == nil {
			err = errors.New("camera stream ended")
		}
		a.send(EvCaptureEnded{Gen: gen, Err: err})
	}()
}

func (a *Agent) arm(t ActTimer) {
	var ev Event
	switch t.Kind {
	case TimerShutter:
		ev = EvShutterTimeout{Gen: t.Gen}
	case TimerStop:
		ev = EvStopTimeout{Gen: t.Gen}
	case TimerRetry:
		ev = EvRetry{Gen: t.Gen}
	case TimerOutputs:
		ev = EvOutputRetry{}
	}
	// One timer per kind is enough: a newer one supersedes the older,
	// whose event would be stale anyway.
	if old := a.timers[t.Kind]; old != nil {
		old.Stop()
	}
	a.timers[t.Kind] = time.AfterFunc(t.After, func() { a.send(ev) })
}

func (a *Agent) stopTimers() {
	for i, t := range a.timers {
		if t != nil {
			t.Stop()
			a.timers[i] = nil
		}
	}
}

// startWatchers turns device inputs into events. The returned function
// waits until every watcher goroutine has ended (after ctx is done).
func (a *Agent) startWatchers(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	if ch := a.deps.Shutter.Watch(ctx); ch != nil {
		wg.Go(func() { forward(ctx, ch, a.send, func(open bool) Event { return EvSensor{Open: open} }) })
	}
	if a.deps.Button != nil {
		if ch := a.deps.Button.Presses(ctx); ch != nil {
			wg.Go(func() {
				forward(ctx, ch, a.send, func(struct{}) Event {
					return EvPrivacy{Toggle: true, Source: SourceButton, Actor: "button"}
				})
			})
		}
	}
	if a.deps.Audio != nil {
		if ch := a.deps.Audio.Watch(ctx); ch != nil {
			wg.Go(func() { forward(ctx, ch, a.send, func(dev string) Event { return EvAudio{Device: dev} }) })
		}
	}
	return wg.Wait
}

// forward turns values from ch into events until ch closes or ctx is done.
// After ctx is done it waits (bounded) for the device to close ch, so that
// Run returns only once the device's own watcher goroutine has finished.
func forward[T any](ctx context.Context, ch <-chan T, send func(Event), ev func(T) Event) {
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return
			}
			send(ev(v))
		case <-ctx.Done():
			drain := time.NewTimer(time.Second)
			defer drain.Stop()
			for {
				select {
				case _, ok := <-ch:
					if !ok {
						return
					}
				case <-drain.C:
					return
				}
			}
		}
	}
}
