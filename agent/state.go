// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/camnode/camnode/capture"
)

// This file is the pure heart of the agent: step(state, event) returns the
// next state and the actions that take the hardware there. It does no I/O,
// reads no clock and starts no goroutine, so it is table-tested and fuzzed
// on its own. The owner loop (loop.go) executes the actions in order.

// ShutterPos is the commanded (and, with a sensor, confirmed) shutter state.
type ShutterPos uint8

// Shutter positions. The zero value is closed.
const (
	ShutterClosed  ShutterPos = iota
	ShutterOpening            // driven open, waiting for the sensor
	ShutterOpen
)

func (p ShutterPos) String() string {
	switch p {
	case ShutterClosed:
		return "closed"
	case ShutterOpening:
		return "opening"
	case ShutterOpen:
		return "open"
	}
	return fmt.Sprintf("ShutterPos(%d)", p)
}

// CapPhase is the life cycle of one capture session. The zero value is off.
type CapPhase uint8

// Capture phases.
const (
	CapOff       CapPhase = iota
	CapStarting           // LED on, Stream called, waiting for STREAMON
	CapStreaming          // STREAMON done
	CapStopping           // cancelled, waiting for Stream to return (STREAMOFF)
)

func (c CapPhase) String() string {
	switch c {
	case CapOff:
		return "off"
	case CapStarting:
		return "starting"
	case CapStreaming:
		return "streaming"
	case CapStopping:
		return "stopping"
	}
	return fmt.Sprintf("CapPhase(%d)", c)
}

// Fault identifies one kind of fault. A fault of each kind is either absent
// ("") or present with a human-readable detail.
type Fault uint8

// Fault kinds.
const (
	FaultZone        Fault = iota // identity missing, unsigned or a forbidden zone
	FaultAudio                    // an audio capture device is present
	FaultLED                      // the recording LED could not be driven
	FaultShutter                  // the shutter could not be driven or did not confirm
	FaultCamera                   // the camera failed or was lost
	FaultCaptureStop              // the camera did not stop in time
	FaultPersist                  // the privacy mode could not be saved
	FaultAudit                    // an audit record could not be written
	numFaults
)

var faultNames = [numFaults]string{"zone", "audio", "led", "shutter", "camera", "capture_stop", "persist", "audit"}

func (f Fault) String() string {
	if f < numFaults {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", f)
}

// Source says where a privacy request came from.
type Source string

// Request sources.
const (
	SourceButton  Source = "button"
	SourceLocal   Source = "local"
	SourceHub     Source = "hub"
	SourceStartup Source = "startup"
	SourceAgent   Source = "agent" // the agent itself, after a fault
)

// State is everything the agent decides on. The zero value is the safe
// state: private, zone not verified, capture off, shutter closed, LED off,
// gate closed. Copying a State copies all of it (no maps or slices are
// shared between copies except Waiting, which step always replaces).
type State struct {
	// Configuration facts, fixed after start.
	HasSensor bool // the shutter has a feedback sensor

	// Inputs.
	Viewing    bool   // the requested mode is "privacy off"; false = private
	ZoneOK     bool   // identity verified and its zone allows capture
	ZoneReason string // why capture is not allowed by zone (when !ZoneOK)
	Audio      string // name of a present audio capture device, "" if none
	SensorOpen bool   // last debounced shutter sensor reading
	Shutdown   bool   // the agent is stopping

	// Outputs as commanded.
	Shutter ShutterPos
	LED     bool
	Cap     CapPhase
	Gate    bool // frames may leave the node

	Gen         uint64 // capture session generation; stale events carry old values
	ShutterGen  uint64 // shutter confirmation generation
	RetryWait   bool   // waiting for a retry timer after the camera failed
	Retries     int    // consecutive failed capture attempts
	StopOverdue bool   // the camera did not stop within the deadline
	// LEDUnsure and ShutterUnsure mean the last safe write (LED off,
	// shutter close) failed, so the output may still be on or open; it is
	// retried on TimerOutputs.
	LEDUnsure, ShutterUnsure bool
	// SaveUnsure means saving "privacy on" failed, so the file may still
	// say "off" and a crash would boot streaming: the save is retried on
	// TimerOutputs (and at exit) until it succeeds or privacy is left.
	SaveUnsure bool
	// SavePending means privacy was switched on and the mode and its audit
	// record are still to be written, once the camera has stopped.
	SavePending bool
	SaveRec     AuditRecord
	// CommitOff means a "privacy off" was accepted and is still to be
	// persisted. It is persisted at the commit point only: when the gate
	// opens (the node is live), as the last action before the request is
	// answered. Until then the file still says private, so a crash while
	// leaving privacy boots private (invariant 5). A start that fails,
	// is refused or is superseded on the way drops it.
	CommitOff bool
	Format    capture.Format
	Faults    [numFaults]string
	Waiting   []Waiter // requests waiting for the node to settle
}

// Waiter is a request that is answered when the node settles in the mode it
// asked for, or fails to.
type Waiter struct {
	ID      uint64
	Private bool
}

// Private reports whether the node is in privacy mode as seen from outside:
// not viewing.
func (s State) Private() bool { return !s.Viewing }

// Target reports whether the camera should run now.
func (s State) Target() bool {
	return s.Viewing && s.ZoneOK && s.Audio == "" && !s.Shutdown
}

// SettledPrivate reports whether everything that can leak is off.
func (s State) SettledPrivate() bool {
	return !s.Gate && s.Cap == CapOff && s.Shutter == ShutterClosed && !s.LED
}

// Event is an input to step.
type Event interface{ event() }

// Events.
type (
	// EvIdentity reports the verified zone verdict at start.
	EvIdentity struct {
		OK     bool
		Reason string
	}
	// EvPrivacy asks for privacy on or off. Toggle flips the current mode
	// (the button). ID identifies the request for the reply (0 = no reply).
	EvPrivacy struct {
		ID     uint64
		On     bool
		Toggle bool
		Source Source
		Actor  string
	}
	// EvSensor is a debounced shutter sensor reading.
	EvSensor struct{ Open bool }
	// EvShutterTimeout fires when the sensor did not confirm open in time.
	EvShutterTimeout struct{ Gen uint64 }
	// EvCaptureStarted: STREAMON done for session Gen.
	EvCaptureStarted struct {
		Gen    uint64
		Format capture.Format
	}
	// EvCaptureEnded: Stream returned for session Gen (STREAMOFF done).
	EvCaptureEnded struct {
		Gen uint64
		Err error
	}
	// EvStopTimeout fires when session Gen did not end in time.
	EvStopTimeout struct{ Gen uint64 }
	// EvRetry fires when it is time to try the camera again.
	EvRetry struct{ Gen uint64 }
	// EvAudio reports the audio guard's verdict: Device is "" when no audio
	// capture device is present.
	EvAudio struct{ Device string }
	// EvFailed reports that executing an action failed.
	EvFailed struct {
		Action Action
		Err    error
	}
	// EvOutputRetry fires when a failed safe write (LED off, shutter
	// close) should be tried again.
	EvOutputRetry struct{}
	// EvShutdown starts the halt sequence.
	EvShutdown struct{ ID uint64 }
	// EvSaved reports that the privacy mode was saved: the file is good
	// again, whatever was wrong with it (at boot or at an earlier save).
	EvSaved struct{}
	// EvAudited reports that an audit record was written: the trail is
	// writable again (the disk had room after all).
	EvAudited struct{}
)

func (EvIdentity) event()       {}
func (EvPrivacy) event()        {}
func (EvSensor) event()         {}
func (EvShutterTimeout) event() {}
func (EvCaptureStarted) event() {}
func (EvCaptureEnded) event()   {}
func (EvStopTimeout) event()    {}
func (EvRetry) event()          {}
func (EvAudio) event()          {}
func (EvFailed) event()         {}
func (EvShutdown) event()       {}
func (EvOutputRetry) event()    {}
func (EvSaved) event()          {}
func (EvAudited) event()        {}

// TimerKind names a timer the loop arms for step.
type TimerKind uint8

// Timers.
const (
	TimerShutter TimerKind = iota // shutter confirmation deadline
	TimerStop                     // capture stop deadline
	TimerRetry                    // camera retry backoff
	TimerOutputs                  // retry of a failed LED-off or shutter-close write
	numTimers
)

// Action is an output of step, executed by the loop in order.
type Action interface {
	// safe reports whether the action moves towards privacy. When an unsafe
	// action fails, the loop skips the rest of the list and reports EvFailed;
	// a failed safe action is reported but the rest still runs.
	safe() bool
}

// Actions.
type (
	// ActGate opens or closes the frame gate. Closing also cuts every
	// consumer (live-view sessions) before it returns.
	ActGate struct {
		Open bool
		Gen  uint64
	}
	// ActShutter drives the shutter.
	ActShutter struct{ Open bool }
	// ActLED drives the recording LED.
	ActLED struct{ On bool }
	// ActStartCapture starts session Gen: Source.Stream in its own goroutine.
	ActStartCapture struct{ Gen uint64 }
	// ActStopCapture cancels session Gen.
	ActStopCapture struct{ Gen uint64 }
	// ActTimer arms a timer that delivers the matching event.
	ActTimer struct {
		Kind  TimerKind
		Gen   uint64
		After time.Duration
	}
	// ActPersist saves the requested privacy mode.
	ActPersist struct{ Private bool }
	// ActAudit writes an audit record.
	ActAudit struct{ Rec AuditRecord }
	// ActReply answers request ID; Err nil means success.
	ActReply struct {
		ID  uint64
		Err error
	}
	// ActPublish says the status changed.
	ActPublish struct{}
)

func (a ActGate) safe() bool        { return !a.Open }
func (a ActShutter) safe() bool     { return !a.Open }
func (a ActLED) safe() bool         { return !a.On }
func (ActStartCapture) safe() bool  { return false }
func (ActStopCapture) safe() bool   { return true }
func (ActTimer) safe() bool         { return true }
func (a ActPersist) safe() bool     { return a.Private }
func (ActAudit) safe() bool         { return true }
func (ActReply) safe() bool         { return true }
func (ActPublish) safe() bool       { return true }
func (a ActGate) String() string    { return fmt.Sprintf("gate(open=%v)", a.Open) }
func (a ActShutter) String() string { return fmt.Sprintf("shutter(open=%v)", a.Open) }
func (a ActLED) String() string     { return fmt.Sprintf("led(on=%v)", a.On) }
func (a ActPersist) String() string { return fmt.Sprintf("persist(private=%v)", a.Private) }
func (a ActStopCapture) String() string {
	return fmt.Sprintf("stop_capture(%d)", a.Gen)
}
func (a ActStartCapture) String() string {
	return fmt.Sprintf("start_capture(%d)", a.Gen)
}

// Timing are the durations step puts into timers.
type Timing struct {
	ShutterConfirm time.Duration // how long the sensor may take to confirm open
	StopDeadline   time.Duration // how long STREAMOFF may take
	RetryMin       time.Duration // first camera retry delay
	RetryMax       time.Duration // cap of the doubling retry delay
}

// DefaultTiming is used for zero fields.
var DefaultTiming = Timing{
	ShutterConfirm: 2 * time.Second,
	StopDeadline:   3 * time.Second,
	RetryMin:       500 * time.Millisecond,
	RetryMax:       30 * time.Second,
}

func (t Timing) withDefaults() Timing {
	if t.ShutterConfirm <= 0 {
		t.ShutterConfirm = DefaultTiming.ShutterConfirm
	}
	if t.StopDeadline <= 0 {
		t.StopDeadline = DefaultTiming.StopDeadline
	}
	if t.RetryMin <= 0 {
		t.RetryMin = DefaultTiming.RetryMin
	}
	if t.RetryMax < t.RetryMin {
		t.RetryMax = max(t.RetryMin, DefaultTiming.RetryMax)
	}
	return t
}

// retryDelay is RetryMin doubled per consecutive failure, capped at RetryMax.
func (t Timing) retryDelay(retries int) time.Duration {
	d := t.RetryMin
	for i := 1; i < retries && d < t.RetryMax; i++ {
		d *= 2
	}
	return min(d, t.RetryMax)
}

// sensorSettle is how long a shutter sensor that already reads open when
// the shutter is driven open must keep reading open to confirm it.
const sensorSettle = 150 * time.Millisecond

// Refusal reasons. They are user-facing: `camnode privacy off` prints them.
const (
	reasonClinical = "clinical zone"
	reasonShutdown = "shutting down"
)

// RefusedError is a request the rules refuse. It changes nothing.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// step applies ev to s. It returns the new state and the actions that bring
// the outputs in line with it, in the order they must run.
func step(s State, ev Event, tm Timing) (State, []Action) {
	tm = tm.withDefaults()
	var acts []Action
	prevSeen := s.visible()

	switch e := ev.(type) {
	case EvIdentity:
		s.ZoneOK = e.OK
		s.ZoneReason = e.Reason
		if !e.OK {
			if e.Reason == "" {
				s.ZoneReason = "identity not verified"
			}
			s.Faults[FaultZone] = s.ZoneReason
			acts = append(acts, ActAudit{AuditRecord{Kind: "refusal", Source: SourceStartup, Reason: "capture locked: " + s.ZoneReason}})
		} else {
			s.ZoneReason = ""
			s.Faults[FaultZone] = ""
		}

	case EvPrivacy:
		on := e.On
		if e.Toggle {
			on = s.Viewing
		}
		if !on {
			if reason := s.refusal(); reason != "" {
				acts = append(acts,
					ActAudit{AuditRecord{Kind: "refusal", Source: e.Source, Actor: e.Actor, Privacy: "off", Reason: reason}},
					ActReply{ID: e.ID, Err: &RefusedError{Reason: reason}})
				if e.Source == SourceButton {
					// Nobody reads a reply from a button: show it in status.
					acts = append(acts, ActPublish{})
				}
				return s, acts
			}
		}
		if s.Viewing == !on {
			// Already in the requested mode: answer when settled. An
			// answered "privacy off" is always persisted first, so that
			// the file says off exactly when an off was acknowledged.
			if e.ID != 0 {
				s.Waiting = appendWaiter(s.Waiting, Waiter{ID: e.ID, Private: on})
			}
			if !on {
				s.CommitOff = true
			}
			break
		}
		s.Viewing = !on
		if !on {
			s.CommitOff = true
			// A deliberate "privacy off" clears the faults that made the
			// node private, so that the attempt is made afresh.
			s.Faults[FaultLED], s.Faults[FaultShutter], s.Faults[FaultCamera] = "", "", ""
			s.Retries, s.RetryWait = 0, false
		}
		mode := "off"
		if on {
			mode = "on"
			// Close the gate before anything else, even before the
			// audit write: from this instant no frame leaves.
			if s.Gate {
				s.Gate = false
				acts = append(acts, ActGate{Open: false})
			}
		}
		rec := AuditRecord{Kind: "privacy", Source: e.Source, Actor: e.Actor, Privacy: mode}
		if on {
			// Entering privacy: stopping the camera, closing the shutter
			// and switching the LED off must not wait for fsyncs, so the
			// mode and its record are written once the camera stopped (see
			// reconcile), and before the request is answered.
			s.SavePending = true
			s.SaveRec = rec
		} else {
			// Leaving privacy: the request is recorded now; the mode is
			// saved only at the commit point, once the node is live and
			// right before the answer (see commit). If saving fails, the
			// unsafe ActPersist aborts the answer and the node returns to
			// privacy with a fault.
			acts = append(acts, ActAudit{rec})
		}
		if e.ID != 0 {
			s.Waiting = appendWaiter(s.Waiting, Waiter{ID: e.ID, Private: on})
		}

	case EvSensor:
		s.SensorOpen = e.Open
		if !e.Open && s.Shutter == ShutterClosed && strings.HasPrefix(s.Faults[FaultShutter], "shutter not confirmed closed") {
			s.Faults[FaultShutter] = ""
		}
		if s.Shutter == ShutterOpening && e.Open {
			s.Shutter = ShutterOpen
		}
		if s.Shutter == ShutterOpen && !e.Open && s.HasSensor {
			// Closed while open is commanded: forced by hand, power, or a
			// reading from before the last command still in flight. Check
			// again after a grace period before calling it a fault.
			s.ShutterGen++
			acts = append(acts, ActTimer{Kind: TimerShutter, Gen: s.ShutterGen, After: tm.ShutterConfirm})
		}

	case EvShutterTimeout:
		if e.Gen != s.ShutterGen {
			break
		}
		switch {
		case s.Shutter == ShutterClosed && s.SensorOpen:
			// Privacy holds (the gate is closed and capture is off), but the
			// shutter may still be open: say so.
			s.Faults[FaultShutter] = fmt.Sprintf("shutter not confirmed closed within %v", tm.ShutterConfirm)
			acts = append(acts, ActAudit{AuditRecord{Kind: "fault", Source: SourceAgent, Reason: s.Faults[FaultShutter]}})
		case s.Shutter == ShutterOpening && s.SensorOpen:
			// The sensor reads open and did not change: it never saw the
			// shutter close (reopened within its travel). Confirmed.
			s.Shutter = ShutterOpen
		case s.Shutter == ShutterOpening:
			s.Faults[FaultShutter] = fmt.Sprintf("shutter not confirmed open within %v", tm.ShutterConfirm)
			s.Viewing = false
			acts = append(acts, ActPersist{Private: true},
				ActAudit{AuditRecord{Kind: KindPrivacy, Source: SourceAgent, Privacy: "on", Reason: s.Faults[FaultShutter]}})
		case s.Shutter == ShutterOpen && !s.SensorOpen && s.HasSensor:
			// The shutter closed under us and stayed closed: the camera sees
			// nothing; stop treating it as live.
			s.Faults[FaultShutter] = "shutter sensor reads closed while open was commanded"
			s.Viewing = false
			acts = append(acts, ActPersist{Private: true},
				ActAudit{AuditRecord{Kind: KindPrivacy, Source: SourceAgent, Privacy: "on", Reason: s.Faults[FaultShutter]}})
		}

	case EvCaptureStarted:
		if e.Gen == s.Gen && s.Cap == CapStarting {
			s.Cap = CapStreaming
			s.Format = e.Format
			s.Retries = 0
			s.Faults[FaultCamera] = ""
		}

	case EvCaptureEnded:
		if e.Gen != s.Gen || s.Cap == CapOff {
			break
		}
		lost := s.Cap != CapStopping
		s.Cap = CapOff
		s.Format = capture.Format{}
		s.StopOverdue = false
		s.Faults[FaultCaptureStop] = ""
		if s.Gate {
			s.Gate = false
			acts = append(acts, ActGate{Open: false})
		}
		if lost {
			msg := "camera stopped"
			if e.Err != nil {
				msg = e.Err.Error()
			}
			s.Faults[FaultCamera] = msg
			s.Retries++
			if s.Target() {
				s.RetryWait = true
				acts = append(acts, ActTimer{Kind: TimerRetry, Gen: s.Gen, After: tm.retryDelay(s.Retries)})
			}
		}

	case EvStopTimeout:
		if e.Gen == s.Gen && s.Cap == CapStopping {
			s.StopOverdue = true
			s.Faults[FaultCaptureStop] = fmt.Sprintf("camera did not stop within %v; frames blocked, shutter closed, LED stays on", tm.StopDeadline)
		}

	case EvRetry:
		if e.Gen == s.Gen && s.RetryWait {
			s.RetryWait = false
		}

	case EvAudio:
		s.Audio = e.Device
		if e.Device != "" {
			s.Faults[FaultAudio] = "audio device present: " + e.Device
		} else {
			s.Faults[FaultAudio] = ""
		}

	case EvFailed:
		s, acts = s.failed(e, acts, tm)

	case EvOutputRetry:
		if s.LEDUnsure && !s.LED {
			s.LEDUnsure = false
			acts = append(acts, ActLED{On: false})
		}
		if s.ShutterUnsure && s.Shutter == ShutterClosed {
			s.ShutterUnsure = false
			acts = append(acts, ActShutter{Open: false})
		}
		if s.SaveUnsure {
			s.SaveUnsure = false
			if !s.Viewing {
				acts = append(acts, ActPersist{Private: true})
			}
		}

	case EvSaved:
		s.Faults[FaultPersist] = ""

	case EvAudited:
		s.Faults[FaultAudit] = ""

	case EvShutdown:
		s.Shutdown = true
		if e.ID != 0 {
			s.Waiting = appendWaiter(s.Waiting, Waiter{ID: e.ID, Private: true})
		}
	}

	if !s.ZoneOK && s.Viewing {
		// Belt and braces: nothing may leave the node viewing in a zone
		// that is not verified.
		s.Viewing = false
	}
	s, acts = s.reconcile(acts, tm)
	if s.visible() != prevSeen || len(acts) > 0 {
		acts = append(acts, ActPublish{})
	}
	return s, finish(acts)
}

// visibleState is the part of State that Status shows. Any change to it is
// published: a hub must never see a stale reading (a shutter sensor that
// closed while nothing else changed used to leave the status saying open).
type visibleState struct {
	viewing, zoneOK, hasSensor, sensorOpen, led, gate bool
	zoneReason, audio                                 string
	shutter                                           ShutterPos
	cap                                               CapPhase
	format                                            capture.Format
	faults                                            [numFaults]string
}

func (s State) visible() visibleState {
	return visibleState{viewing: s.Viewing, zoneOK: s.ZoneOK, hasSensor: s.HasSensor, sensorOpen: s.SensorOpen,
		led: s.LED, gate: s.Gate, zoneReason: s.ZoneReason, audio: s.Audio, shutter: s.Shutter, cap: s.Cap,
		format: s.Format, faults: s.Faults}
}

// refusal returns why the camera may not be switched on now, or "".
func (s State) refusal() string {
	switch {
	case s.Shutdown:
		return reasonShutdown
	case !s.ZoneOK:
		if s.ZoneReason == "" {
			return "identity not verified"
		}
		return s.ZoneReason
	case s.Audio != "":
		return "audio device present: " + s.Audio
	}
	return ""
}

// failed handles an action that could not be executed.
func (s State) failed(e EvFailed, acts []Action, tm Timing) (State, []Action) {
	msg := "failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	switch a := e.Action.(type) {
	case ActLED:
		s.Faults[FaultLED] = "recording LED: " + msg
		if a.On {
			// The start action after it was skipped, so capture never
			// started. s.LED stays true: reconcile drives it off again,
			// whatever state the failed write left it in.
			s.Cap = CapOff
		}
	case ActShutter:
		// s.Shutter keeps the commanded value, so reconcile drives the
		// shutter closed again.
		s.Faults[FaultShutter] = "shutter: " + msg
	case ActPersist:
		s.Faults[FaultPersist] = "saving privacy mode: " + msg
	case ActAudit:
		s.Faults[FaultAudit] = "audit: " + msg
		return s, acts
	default:
		return s, acts
	}
	if e.Action.safe() {
		switch a := e.Action.(type) {
		case ActLED:
			s.LEDUnsure = true
			acts = append(acts, ActTimer{Kind: TimerOutputs, After: tm.RetryMin})
		case ActShutter:
			if !a.Open {
				s.ShutterUnsure = true
				acts = append(acts, ActTimer{Kind: TimerOutputs, After: tm.RetryMin})
			}
		case ActPersist:
			// "privacy on" was not saved: the file may still say "off".
			s.SaveUnsure = true
			acts = append(acts, ActTimer{Kind: TimerOutputs, After: tm.RetryMin})
		}
		return s, acts
	}
	// An unsafe action failed: return the node to privacy. The record
	// gives the fault the failure raised.
	if s.Viewing {
		s.Viewing = false
		reason := msg
		switch e.Action.(type) {
		case ActLED:
			reason = s.Faults[FaultLED]
		case ActShutter:
			reason = s.Faults[FaultShutter]
		case ActPersist:
			reason = s.Faults[FaultPersist]
		}
		acts = append(acts, ActPersist{Private: true},
			ActAudit{AuditRecord{Kind: KindPrivacy, Source: SourceAgent, Privacy: "on", Reason: reason}})
	}
	return s, acts
}

// reconcile appends the actions that move the outputs towards what the
// inputs ask for, one safe increment at a time, and answers settled waiters.
func (s State) reconcile(acts []Action, tm Timing) (State, []Action) {
	if !s.Target() {
		if s.Gate {
			s.Gate = false
			acts = append([]Action{ActGate{Open: false}}, acts...)
		}
		switch s.Cap {
		case CapStarting, CapStreaming:
			s.Cap = CapStopping
			acts = append(acts, ActStopCapture{Gen: s.Gen},
				ActTimer{Kind: TimerStop, Gen: s.Gen, After: tm.StopDeadline})
		}
		s.RetryWait = false
		if s.Cap == CapOff || s.StopOverdue {
			if s.Shutter != ShutterClosed {
				s.Shutter = ShutterClosed
				acts = append(acts, ActShutter{Open: false})
				if s.HasSensor {
					// The sensor must confirm closed too, or a fault says so.
					s.ShutterGen++
					acts = append(acts, ActTimer{Kind: TimerShutter, Gen: s.ShutterGen, After: tm.ShutterConfirm})
				}
			}
		}
		// The LED goes off only once the sensor stopped streaming.
		if s.Cap == CapOff && s.LED {
			s.LED = false
			acts = append(acts, ActLED{On: false})
		}
	} else {
		switch {
		case s.Shutter == ShutterClosed && s.Cap == CapOff:
			s.Shutter = ShutterOpening
			s.ShutterUnsure = false
			s.ShutterGen++
			acts = append(acts, ActShutter{Open: true})
			switch {
			case !s.HasSensor:
				s.Shutter = ShutterOpen
			case s.SensorOpen:
				// Reopened before the sensor saw it close: it may never
				// change again, so a short check confirms it (a stale
				// "closed" reading still in flight would come first).
				acts = append(acts, ActTimer{Kind: TimerShutter, Gen: s.ShutterGen, After: min(tm.ShutterConfirm, sensorSettle)})
			default:
				acts = append(acts, ActTimer{Kind: TimerShutter, Gen: s.ShutterGen, After: tm.ShutterConfirm})
			}
		case s.Shutter == ShutterOpening && s.HasSensor && s.SensorOpen:
			s.Shutter = ShutterOpen
		}
		if s.Shutter == ShutterOpen && s.Cap == CapOff && !s.RetryWait {
			// LED first: if it cannot be lit, the loop never runs the
			// start action (ActLED{On: true} is unsafe and aborts the rest).
			s.Gen++
			s.Cap = CapStarting
			s.LED = true
			s.LEDUnsure = false
			acts = append(acts, ActLED{On: true}, ActStartCapture{Gen: s.Gen})
		}
		if s.Cap == CapOff && s.RetryWait && s.LED {
			s.LED = false
			acts = append(acts, ActLED{On: false})
		}
		if s.Cap == CapStreaming && !s.Gate && s.LED && s.Shutter == ShutterOpen {
			s.Gate = true
			acts = append(acts, ActGate{Open: true, Gen: s.Gen})
		}
	}
	if s.SavePending && (s.Cap == CapOff || s.StopOverdue || s.Target()) {
		s.SavePending = false
		if !s.Target() {
			acts = append(acts, ActPersist{Private: true})
		}
		acts = append(acts, ActAudit{s.SaveRec})
	}
	s, acts = s.commit(acts)
	return s.answer(acts)
}

// commit persists an accepted "privacy off" at its commit point: the node
// is live (gate open) and the waiters are answered right after, in the same
// action list (finish puts the save last but for the replies). A node on its way out of privacy that is stopped,
// refused or has to retry the camera drops the pending commit: its file
// keeps saying private, and the requester was told it failed.
func (s State) commit(acts []Action) (State, []Action) {
	if !s.Target() || s.RetryWait {
		s.CommitOff = false
	}
	if s.CommitOff && s.Gate {
		s.CommitOff, s.SaveUnsure = false, false
		acts = append(acts, ActPersist{Private: false})
	}
	return s, acts
}

// answer replies to the waiters whose question is settled.
func (s State) answer(acts []Action) (State, []Action) {
	if len(s.Waiting) == 0 {
		return s, acts
	}
	var keep []Waiter
	for _, w := range s.Waiting {
		switch {
		case w.Private && s.SettledPrivate():
			acts = append(acts, ActReply{ID: w.ID})
		case w.Private && s.StopOverdue:
			acts = append(acts, ActReply{ID: w.ID, Err: fmt.Errorf("%s", s.Faults[FaultCaptureStop])})
		case w.Private && s.Target():
			acts = append(acts, ActReply{ID: w.ID, Err: fmt.Errorf("superseded: privacy was switched off again")})
		case !w.Private && s.Gate:
			acts = append(acts, ActReply{ID: w.ID})
		case !w.Private && !s.Viewing:
			acts = append(acts, ActReply{ID: w.ID, Err: fmt.Errorf("node returned to privacy: %s", s.firstFault())})
		case !w.Private && s.Target() && s.RetryWait:
			acts = append(acts, ActReply{ID: w.ID, Err: fmt.Errorf("camera not streaming (%s); retrying", s.Faults[FaultCamera])})
		case !w.Private && !s.Target():
			acts = append(acts, ActReply{ID: w.ID, Err: &RefusedError{Reason: s.refusal()}})
		default:
			keep = append(keep, w)
		}
	}
	s.Waiting = keep
	return s, acts
}

func (s State) firstFault() string {
	for _, f := range s.Faults {
		if f != "" {
			return f
		}
	}
	return "requested"
}

func appendWaiter(ws []Waiter, w Waiter) []Waiter {
	out := make([]Waiter, 0, len(ws)+1)
	return append(append(out, ws...), w)
}

// finish keeps only the last ActPublish and moves the replies after it, so
// that whoever is answered already sees the status the step produced. A
// save of "privacy off" (the commit point, see commit) goes between them:
// the answers follow it directly, with nothing in between.
func finish(acts []Action) []Action {
	acts = dedupPublish(acts)
	var tail []Action
	out := acts[:0:0]
	for _, a := range acts {
		if p, ok := a.(ActPersist); ok && !p.Private {
			tail = append([]Action{a}, tail...)
			continue
		}
		if _, ok := a.(ActReply); ok {
			tail = append(tail, a)
			continue
		}
		out = append(out, a)
	}
	return append(out, tail...)
}

// dedupPublish keeps only the last ActPublish.
func dedupPublish(acts []Action) []Action {
	last := -1
	for i, a := range acts {
		if _, ok := a.(ActPublish); ok {
			last = i
		}
	}
	if last < 0 {
		return acts
	}
	out := acts[:0:0]
	for i, a := range acts {
		if _, ok := a.(ActPublish); ok && i != last {
			continue
		}
		out = append(out, a)
	}
	return out
}
