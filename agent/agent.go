// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// LED is the recording indicator. Set returns an error when the level could
// not be driven; the agent then refuses to start capture.
type LED interface {
	Set(on bool) error
}

// Shutter is the physical privacy shutter.
type Shutter interface {
	// Drive commands the shutter open or closed.
	Drive(open bool) error
	// HasFeedback reports whether a sensor confirms the position.
	HasFeedback() bool
	// Watch emits debounced sensor readings (true = open), the current
	// one first, until ctx is done. nil when there is no sensor.
	Watch(ctx context.Context) <-chan bool
}

// Button is the technician's privacy toggle.
type Button interface {
	// Presses emits one value per debounced press until ctx is done.
	Presses(ctx context.Context) <-chan struct{}
}

// AudioGuard watches for audio capture devices.
type AudioGuard interface {
	// Watch emits the name of a present audio capture device, or "" when
	// there is none: the current verdict first, then each change, until
	// ctx is done.
	Watch(ctx context.Context) <-chan string
}

// FrameSink consumes frames that passed the gate (live view, encoders).
type FrameSink interface {
	// WriteFrame is called from the capture goroutine while the gate is
	// held open; the frame is valid only during the call.
	WriteFrame(*capture.Frame)
	// Cut is called when the gate closes, with the gate held closed. It
	// must stop every sender and drop every buffered or retransmittable
	// packet before it returns: after Cut, nothing captured before it may
	// leave the node.
	Cut()
}

// Deps are the devices and services the agent drives. LED and Shutter are
// required; the rest may be nil.
type Deps struct {
	LED     LED
	Shutter Shutter
	Button  Button
	// Camera is the capture source. It is never used (Stream is never
	// called) unless the zone verdict allows capture.
	Camera capture.Source
	Audio  AudioGuard
	Audit  Auditor
	Sinks  []FrameSink
}

// Config configures the agent.
type Config struct {
	// Identity is the verified identity, IdentityErr the error from reading
	// or verifying it. A non-nil IdentityErr locks the camera.
	Identity    firmware.Identity
	IdentityErr error
	// StatePath is the file holding the persisted privacy mode.
	StatePath string
	Timing    Timing
	// ShutdownTimeout bounds the halt sequence after ctx is cancelled.
	ShutdownTimeout time.Duration
	Version         string
	Logger          *slog.Logger
	Now             func() time.Time
}

// Agent is the brain of a node. All state changes happen in one goroutine
// (Run); other goroutines talk to it through channels.
type Agent struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	// in
	events  chan Event
	reqs    chan request
	refresh chan struct{} // republish the status (cap 1)
	// out
	done chan struct{}

	gate   gate
	frames atomic.Uint64 // frames that passed the gate
	// Frames the camera dropped: dropBase for the streams that ended,
	// dropCur for the current one (capture.Frame.Dropped is per stream).
	dropBase, dropCur atomic.Uint64
	status            atomic.Pointer[Status]
	link              atomic.Pointer[LinkStatus] // SetLink; nil without a hub link
	start             time.Time

	subMu sync.Mutex // guards subs
	subs  map[chan Status]struct{}

	// Owned by the loop goroutine.
	state     State
	nextID    uint64
	replies   map[uint64]chan error
	capCancel context.CancelFunc
	capDone   chan struct{}
	timers    [numTimers]*time.Timer // by TimerKind

	// afterAction, if set (tests only), is called by the loop after each
	// action it executed, with the action's error.
	afterAction func(Action, error)
}

type request struct {
	ev    Event
	reply chan error
}

// New builds an agent. It does not touch any device: Run does.
func New(cfg Config, deps Deps) (*Agent, error) {
	if deps.LED == nil || deps.Shutter == nil {
		return nil, errors.New("agent: LED and shutter are required")
	}
	if cfg.StatePath == "" {
		return nil, errors.New("agent: state path is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = cfg.Timing.withDefaults().StopDeadline + 2*time.Second
	}
	a := &Agent{
		cfg:     cfg,
		deps:    deps,
		log:     cfg.Logger,
		now:     cfg.Now,
		events:  make(chan Event, 16),
		reqs:    make(chan request),
		refresh: make(chan struct{}, 1),
		done:    make(chan struct{}),
		subs:    make(map[chan Status]struct{}),
		replies: make(map[uint64]chan error),
	}
	a.gate.sinks = deps.Sinks
	a.state.HasSensor = deps.Shutter.HasFeedback()
	a.start = cfg.Now()
	a.publish()
	return a, nil
}

// ErrStopped is returned by requests made after the agent stopped.
var ErrStopped = errors.New("agent: stopped")

// SetPrivacy asks for privacy on or off and waits until the node settled in
// that mode (or refused, or failed). It returns the status after the change.
// A *RefusedError means the rules refused and nothing changed.
func (a *Agent) SetPrivacy(ctx context.Context, on bool, src Source, actor string) (Status, error) {
	err := a.call(ctx, EvPrivacy{On: on, Source: src, Actor: actor})
	return a.Status(), err
}

// TogglePrivacy flips the mode, as the button does.
func (a *Agent) TogglePrivacy(ctx context.Context, src Source, actor string) (Status, error) {
	err := a.call(ctx, EvPrivacy{Toggle: true, Source: src, Actor: actor})
	return a.Status(), err
}

// Ping returns once the owner loop has handled a request: it proves the
// loop is alive (the service watchdog is fed from it).
func (a *Agent) Ping(ctx context.Context) error { return a.call(ctx, evPing{}) }

// evPing is answered by the loop itself; step never sees it.
type evPing struct{}

func (evPing) event() {}

func (a *Agent) call(ctx context.Context, ev Event) error {
	r := request{ev: ev, reply: make(chan error, 1)}
	select {
	case a.reqs <- r:
	case <-a.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-a.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns the latest status snapshot, with the frame counters (which
// grow without any transition) read now. Safe from any goroutine.
func (a *Agent) Status() Status {
	st := *a.status.Load()
	a.counters(&st)
	return st.WithLink(a.link.Load())
}

// Subscribe returns a channel that receives each new status (the current one
// first). A slow reader misses intermediate values, never the latest one.
// cancel releases the subscription.
func (a *Agent) Subscribe() (ch <-chan Status, cancel func()) {
	c := make(chan Status, 1)
	c <- a.Status()
	a.subMu.Lock()
	a.subs[c] = struct{}{}
	a.subMu.Unlock()
	return c, func() {
		a.subMu.Lock()
		delete(a.subs, c)
		a.subMu.Unlock()
	}
}

// Refresh asks the loop to republish the status, for facts the loop does
// not own (the live view's viewer count). It never blocks; requests made
// while one is pending are merged.
func (a *Agent) Refresh() {
	select {
	case a.refresh <- struct{}{}:
	default:
	}
}

// Done is closed when Run has returned.
func (a *Agent) Done() <-chan struct{} { return a.done }

// send delivers an event from a helper goroutine to the loop. It gives up
// when the loop has ended.
func (a *Agent) send(ev Event) {
	select {
	case a.events <- ev:
	case <-a.done:
	}
}

// gate decides, per frame, whether a frame may leave the node. open holds
// the generation of the capture session allowed through; 0 is closed.
// Frames take the read lock for the whole delivery, so close (write lock)
// returns only when no frame is in flight, and calls Cut before any other
// frame can pass.
type gate struct {
	mu    sync.RWMutex
	open  uint64
	sinks []FrameSink
}

func (g *gate) set(gen uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = gen
	if gen == 0 {
		for _, s := range g.sinks {
			s.Cut()
		}
	}
}

// pass delivers f to the sinks if session gen is allowed through.
func (g *gate) pass(gen uint64, f *capture.Frame) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.open != gen || gen == 0 {
		return false
	}
	for _, s := range g.sinks {
		s.WriteFrame(f)
	}
	return true
}

// session adapts one capture session to capture.Sink.
type session struct {
	a   *Agent
	gen uint64
}

func (s session) Started(f capture.Format) {
	s.a.dropBase.Add(s.a.dropCur.Swap(0)) // a new stream counts from 0
	s.a.send(EvCaptureStarted{Gen: s.gen, Format: f})
}

func (s session) Frame(f *capture.Frame) {
	s.a.dropCur.Store(f.Dropped) // a camera fact, gate open or not
	if s.a.gate.pass(s.gen, f) {
		s.a.frames.Add(1)
	}
}

// zone returns the verdict for the configured identity.
func (a *Agent) zone() (bool, string) {
	return ZoneVerdict(a.cfg.Identity, a.cfg.IdentityErr)
}

func (a *Agent) String() string { return fmt.Sprintf("agent(%s)", a.cfg.Identity.NodeID) }
