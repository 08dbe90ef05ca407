// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/capture"
)

var tm = Timing{ShutterConfirm: 2 * time.Second, StopDeadline: 3 * time.Second, RetryMin: time.Second, RetryMax: 8 * time.Second}

// Representative states. Each is reachable: the test TestStatesReachable
// drives step from the zero value into each one.
var (
	stPrivate       = State{ZoneOK: true}
	stLocked        = State{ZoneReason: "clinical zone (consulting)"}
	stSensorPrivate = State{ZoneOK: true, HasSensor: true}
	stOpening       = State{ZoneOK: true, HasSensor: true, Viewing: true, Shutter: ShutterOpening, ShutterGen: 1}
	stStarting      = State{ZoneOK: true, Viewing: true, Shutter: ShutterOpen, LED: true, Cap: CapStarting, Gen: 1}
	stLive          = State{ZoneOK: true, Viewing: true, Shutter: ShutterOpen, LED: true, Cap: CapStreaming, Gate: true, Gen: 1}
	stStopping      = State{ZoneOK: true, Shutter: ShutterOpen, LED: true, Cap: CapStopping, Gen: 1}
	stRetry         = State{ZoneOK: true, Viewing: true, Shutter: ShutterOpen, Gen: 1, RetryWait: true, Retries: 1,
		Faults: faults(FaultCamera, "lost")}
	stAudio   = State{ZoneOK: true, Viewing: true, Audio: "card0 Dummy", Faults: faults(FaultAudio, "audio device present: card0 Dummy")}
	stOverdue = State{ZoneOK: true, LED: true, Cap: CapStopping, Gen: 1, StopOverdue: true}
)

func faults(kv ...any) (f [numFaults]string) {
	for i := 0; i < len(kv); i += 2 {
		f[kv[i].(Fault)] = kv[i+1].(string)
	}
	return f
}

var allStates = map[string]State{
	"private": stPrivate, "locked": stLocked, "sensor-private": stSensorPrivate, "opening": stOpening,
	"starting": stStarting, "live": stLive, "stopping": stStopping, "retry": stRetry, "audio": stAudio,
	"overdue": stOverdue, "zero": {},
}

var errLost = fmt.Errorf("dqbuf: %w", capture.ErrLost)

var allEvents = map[string]Event{
	"identity-ok":      EvIdentity{OK: true},
	"identity-bad":     EvIdentity{Reason: "zone not verified: bad signature"},
	"privacy-on":       EvPrivacy{ID: 7, On: true, Source: SourceHub, Actor: "hub"},
	"privacy-off":      EvPrivacy{ID: 7, On: false, Source: SourceLocal, Actor: "uid=0"},
	"button":           EvPrivacy{Toggle: true, Source: SourceButton},
	"sensor-open":      EvSensor{Open: true},
	"sensor-closed":    EvSensor{Open: false},
	"shutter-timeout":  EvShutterTimeout{Gen: 1},
	"stale-shutter-to": EvShutterTimeout{Gen: 0},
	"started":          EvCaptureStarted{Gen: 1, Format: capture.Format{Width: 640, Height: 480, Pixel: capture.YUYV, FPSNum: 25, FPSDen: 1}},
	"stale-started":    EvCaptureStarted{Gen: 0},
	"ended-ok":         EvCaptureEnded{Gen: 1},
	"ended-lost":       EvCaptureEnded{Gen: 1, Err: errLost},
	"stale-ended":      EvCaptureEnded{Gen: 0, Err: errLost},
	"stop-timeout":     EvStopTimeout{Gen: 1},
	"retry":            EvRetry{Gen: 1},
	"audio-present":    EvAudio{Device: "card0 Dummy"},
	"audio-gone":       EvAudio{},
	"led-on-failed":    EvFailed{Action: ActLED{On: true}, Err: errors.New("EIO")},
	"led-off-failed":   EvFailed{Action: ActLED{On: false}, Err: errors.New("EIO")},
	"shutter-failed":   EvFailed{Action: ActShutter{Open: true}, Err: errors.New("EIO")},
	"persist-failed":   EvFailed{Action: ActPersist{Private: false}, Err: errors.New("ENOSPC")},
	"audit-failed":     EvFailed{Action: ActAudit{}, Err: errors.New("ENOSPC")},
	"shutdown":         EvShutdown{},
	"saved":            EvSaved{},
}

// checkStep asserts the invariants that must hold after every step,
// whatever the state and event. It returns a description of the first
// violation, or "".
func checkStep(prev State, ev Event, next State, acts []Action) string {
	if prev.visible() != next.visible() && !slices.ContainsFunc(acts, func(a Action) bool { _, ok := a.(ActPublish); return ok }) {
		return fmt.Sprintf("status-visible state changed without ActPublish: %+v -> %+v", prev.visible(), next.visible())
	}
	ledOn := prev.LED
	gateOpen := prev.Gate
	for i, act := range acts {
		switch a := act.(type) {
		case ActLED:
			ledOn = a.On
			if !a.On && next.Cap != CapOff {
				return fmt.Sprintf("LED off at action %d while capture is %v (LED may go off only after STREAMOFF)", i, next.Cap)
			}
		case ActStartCapture:
			if !ledOn {
				return fmt.Sprintf("capture started at action %d with the LED off", i)
			}
			if !next.ZoneOK {
				return "capture started in a locked zone"
			}
			if next.Audio != "" {
				return "capture started with an audio device present"
			}
		case ActShutter:
			if a.Open && !next.Target() {
				return "shutter opened while the camera should not run"
			}
		case ActGate:
			gateOpen = a.Open
			if a.Open && !(next.Target() && next.LED && next.Shutter == ShutterOpen && next.Cap == CapStreaming) {
				return "gate opened without target, LED, open shutter and streaming"
			}
		}
		_ = gateOpen
	}
	if next.Gate && !next.Target() {
		return "gate open while the camera should not run"
	}
	if next.Cap != CapOff && !next.LED {
		return fmt.Sprintf("capture %v with LED off", next.Cap)
	}
	if !next.ZoneOK && next.Viewing {
		return "viewing in a locked zone"
	}
	if !next.Target() && next.Cap == CapOff && !next.SettledPrivate() {
		return fmt.Sprintf("not settled private although capture is off: %+v", next)
	}
	if msg := checkCommit(prev, ev, next, acts); msg != "" {
		return msg
	}
	if !next.Target() && prev.Gate {
		// The gate must be the very first action.
		if len(acts) == 0 || acts[0] != (ActGate{Open: false}) {
			return fmt.Sprintf("privacy without closing the gate first: %v", acts)
		}
	}
	return ""
}

// checkCommit checks invariant 5's commit point: "privacy off" is saved
// only when the node is live, and nothing but successful answers follows it
// in the action list, so a crash at any
// action boundary before the answer finds the file still saying private.
// Conversely, a "privacy off" is answered with success only right after it
// was saved.
func checkCommit(prev State, ev Event, next State, acts []Action) string {
	saved := false
	offWaiters, onWaiters := map[uint64]bool{}, map[uint64]bool{}
	for _, w := range prev.Waiting {
		if w.Private {
			onWaiters[w.ID] = true
		} else {
			offWaiters[w.ID] = true
		}
	}
	if e, ok := ev.(EvPrivacy); ok && e.ID != 0 {
		if on := e.On || (e.Toggle && prev.Viewing); on {
			onWaiters[e.ID] = true
		} else {
			offWaiters[e.ID] = true
		}
	}
	for i, act := range acts {
		switch a := act.(type) {
		case ActPersist:
			if a.Private {
				continue
			}
			if !next.Gate || !next.Viewing || next.Cap != CapStreaming {
				return fmt.Sprintf("privacy off saved at action %d while the node is not live", i)
			}
			for _, b := range acts[i+1:] {
				switch r := b.(type) {
				case ActReply:
					if r.Err != nil {
						return fmt.Sprintf("privacy off saved, then an error answered: %v", acts)
					}
				default:
					return fmt.Sprintf("%v after saving privacy off (only the answers may follow): %v", b, acts)
				}
			}
			saved = true
		case ActReply:
			if a.Err == nil && offWaiters[a.ID] && !onWaiters[a.ID] && !saved {
				return fmt.Sprintf("privacy off answered (id %d) without saving it first: %v", a.ID, acts)
			}
		}
	}
	return ""
}

func TestStepAllPairs(t *testing.T) {
	for sn, s := range allStates {
		for en, ev := range allEvents {
			t.Run(sn+"/"+en, func(t *testing.T) {
				next, acts := step(s, ev, tm)
				if msg := checkStep(s, ev, next, acts); msg != "" {
					t.Errorf("step(%s, %s): %s\nactions: %v", sn, en, msg, acts)
				}
				// step must be deterministic.
				next2, acts2 := step(s, ev, tm)
				if !reflect.DeepEqual(next, next2) || !reflect.DeepEqual(acts, acts2) {
					t.Errorf("step(%s, %s) is not deterministic", sn, en)
				}
			})
		}
	}
}

// stepCases are the transitions whose exact outcome matters. The same table
// seeds FuzzStep.
var stepCases = []struct {
	name  string
	from  State
	ev    Event
	check func(State) string
	acts  []Action // exact actions, ignoring audit records
}{
	{
		name: "leave privacy without sensor: shutter, LED, then capture; nothing saved yet",
		from: stPrivate, ev: EvPrivacy{ID: 1, Source: SourceLocal},
		check: want(func(s State) bool {
			return s.Viewing && s.Cap == CapStarting && s.LED && s.Shutter == ShutterOpen && s.CommitOff
		}),
		acts: []Action{ActShutter{Open: true}, ActLED{On: true}, ActStartCapture{Gen: 1}, ActPublish{}},
	},
	{
		name: "leave privacy with sensor: wait for confirmation",
		from: stSensorPrivate, ev: EvPrivacy{ID: 1, Source: SourceHub},
		check: want(func(s State) bool { return s.Viewing && s.Cap == CapOff && !s.LED && s.Shutter == ShutterOpening }),
		acts:  []Action{ActShutter{Open: true}, ActTimer{Kind: TimerShutter, Gen: 1, After: 2 * time.Second}, ActPublish{}},
	},
	{
		name: "sensor confirms: LED then capture",
		from: stOpening, ev: EvSensor{Open: true},
		check: want(func(s State) bool { return s.Cap == CapStarting && s.LED && s.Shutter == ShutterOpen }),
		acts:  []Action{ActLED{On: true}, ActStartCapture{Gen: 1}, ActPublish{}},
	},
	{
		name: "shutter not confirmed: fault, private, shutter closed",
		from: stOpening, ev: EvShutterTimeout{Gen: 1},
		check: want(func(s State) bool { return !s.Viewing && s.Faults[FaultShutter] != "" && s.SettledPrivate() }),
		acts:  []Action{ActPersist{Private: true}, ActShutter{Open: false}, ActTimer{Kind: TimerShutter, Gen: 2, After: 2 * time.Second}, ActPublish{}},
	},
	{
		name:  "reopened before the shutter finished closing: a short check confirms the open sensor",
		from:  State{ZoneOK: true, HasSensor: true, SensorOpen: true, ShutterGen: 2},
		ev:    EvPrivacy{ID: 4, Source: SourceLocal},
		check: want(func(s State) bool { return s.Shutter == ShutterOpening && s.Cap == CapOff && !s.LED }),
		acts:  []Action{ActShutter{Open: true}, ActTimer{Kind: TimerShutter, Gen: 3, After: 150 * time.Millisecond}, ActPublish{}},
	},
	{
		name: "open sensor unchanged at the check: confirmed, LED then capture",
		from: State{ZoneOK: true, HasSensor: true, SensorOpen: true, Viewing: true, Shutter: ShutterOpening, ShutterGen: 3},
		ev:   EvShutterTimeout{Gen: 3},
		check: want(func(s State) bool {
			return s.Shutter == ShutterOpen && s.Cap == CapStarting && s.LED && s.Faults[FaultShutter] == ""
		}),
		acts: []Action{ActLED{On: true}, ActStartCapture{Gen: 1}, ActPublish{}},
	},
	{
		name:  "a closed reading while live is checked again before it is a fault",
		from:  stLive,
		ev:    EvSensor{Open: false},
		check: want(func(s State) bool { return s.Viewing && s.Gate && s.Faults[FaultShutter] == "" }),
	},
	{
		name:  "still closed at the check: fault, privacy",
		from:  State{ZoneOK: true, HasSensor: true, Viewing: true, Shutter: ShutterOpen, LED: true, Cap: CapStreaming, Gate: true, Gen: 1, ShutterGen: 5},
		ev:    EvShutterTimeout{Gen: 5},
		check: want(func(s State) bool { return !s.Viewing && !s.Gate && s.Faults[FaultShutter] != "" }),
	},
	{
		name: "shutter still reads open after closing: fault, privacy kept",
		from: State{ZoneOK: true, HasSensor: true, SensorOpen: true, ShutterGen: 3},
		ev:   EvShutterTimeout{Gen: 3},
		check: want(func(s State) bool {
			return s.SettledPrivate() && strings.Contains(s.Faults[FaultShutter], "not confirmed closed")
		}),
	},
	{
		name:  "sensor confirms closed late: the fault clears",
		from:  State{ZoneOK: true, HasSensor: true, SensorOpen: true, ShutterGen: 3, Faults: faults(FaultShutter, "shutter not confirmed closed within 2s")},
		ev:    EvSensor{Open: false},
		check: want(func(s State) bool { return s.Faults[FaultShutter] == "" }),
	},
	{
		name: "STREAMON: gate opens",
		from: stStarting, ev: EvCaptureStarted{Gen: 1, Format: capture.Format{Width: 640, Height: 480}},
		check: want(func(s State) bool { return s.Gate && s.Cap == CapStreaming }),
		acts:  []Action{ActGate{Open: true, Gen: 1}, ActPublish{}},
	},
	{
		name: "STREAMON after privacy off: gate opens, then off is saved, then the request is answered",
		from: State{ZoneOK: true, Viewing: true, Shutter: ShutterOpen, LED: true, Cap: CapStarting, Gen: 1, CommitOff: true,
			Waiting: []Waiter{{ID: 5}}},
		ev:    EvCaptureStarted{Gen: 1, Format: capture.Format{Width: 640, Height: 480}},
		check: want(func(s State) bool { return s.Gate && !s.CommitOff && len(s.Waiting) == 0 }),
		acts:  []Action{ActGate{Open: true, Gen: 1}, ActPublish{}, ActPersist{Private: false}, ActReply{ID: 5}},
	},
	{
		name:  "STREAMON after the button: gate opens, then off is saved",
		from:  State{ZoneOK: true, Viewing: true, Shutter: ShutterOpen, LED: true, Cap: CapStarting, Gen: 1, CommitOff: true},
		ev:    EvCaptureStarted{Gen: 1},
		check: want(func(s State) bool { return s.Gate && !s.CommitOff }),
		acts:  []Action{ActGate{Open: true, Gen: 1}, ActPublish{}, ActPersist{Private: false}},
	},
	{
		name:  "privacy off while live: saved again, then answered",
		from:  stLive,
		ev:    EvPrivacy{ID: 6, Source: SourceHub},
		check: want(func(s State) bool { return s.Gate && !s.CommitOff && len(s.Waiting) == 0 }),
		acts:  []Action{ActPublish{}, ActPersist{Private: false}, ActReply{ID: 6}},
	},
	{
		name: "saving privacy off failed: back to privacy with a fault, gate closed first",
		from: stLive,
		ev:   EvFailed{Action: ActPersist{Private: false}, Err: errors.New("ENOSPC")},
		check: want(func(s State) bool {
			return !s.Viewing && !s.Gate && s.Cap == CapStopping && s.Faults[FaultPersist] != ""
		}),
		acts: []Action{ActGate{Open: false}, ActPersist{Private: true}, ActStopCapture{Gen: 1},
			ActTimer{Kind: TimerStop, Gen: 1, After: 3 * time.Second}, ActPublish{}},
	},
	{
		name: "camera lost while leaving privacy: the off is never saved",
		from: State{ZoneOK: true, Viewing: true, Shutter: ShutterOpen, LED: true, Cap: CapStarting, Gen: 1, CommitOff: true,
			Waiting: []Waiter{{ID: 5}}},
		ev:    EvCaptureEnded{Gen: 1, Err: errLost},
		check: want(func(s State) bool { return s.RetryWait && !s.CommitOff && len(s.Waiting) == 0 }),
	},
	{
		name:  "shutdown while leaving privacy: the off is never saved",
		from:  State{ZoneOK: true, HasSensor: true, Viewing: true, Shutter: ShutterOpening, ShutterGen: 1, CommitOff: true},
		ev:    EvShutdown{},
		check: want(func(s State) bool { return s.Viewing && !s.CommitOff && s.SettledPrivate() }),
	},
	{
		name: "privacy on while live: gate first, then stop, LED stays on",
		from: stLive, ev: EvPrivacy{ID: 2, On: true, Source: SourceButton},
		check: want(func(s State) bool { return !s.Gate && s.Cap == CapStopping && s.LED && !s.Viewing }),
		acts: []Action{ActGate{Open: false}, ActStopCapture{Gen: 1},
			ActTimer{Kind: TimerStop, Gen: 1, After: 3 * time.Second}, ActPublish{}},
	},
	{
		name:  "STREAMOFF after privacy: shutter closed, LED off, mode saved, then answered",
		from:  State{ZoneOK: true, Shutter: ShutterOpen, LED: true, Cap: CapStopping, Gen: 1, Waiting: []Waiter{{ID: 2, Private: true}}, SavePending: true},
		ev:    EvCaptureEnded{Gen: 1},
		check: want(func(s State) bool { return s.SettledPrivate() && len(s.Waiting) == 0 && !s.SavePending }),
		acts:  []Action{ActShutter{Open: false}, ActLED{On: false}, ActPersist{Private: true}, ActPublish{}, ActReply{ID: 2}},
	},
	{
		name:  "stop overdue: shutter closes, LED stays on, waiter told",
		from:  State{ZoneOK: true, Shutter: ShutterOpen, LED: true, Cap: CapStopping, Gen: 1, Waiting: []Waiter{{ID: 2, Private: true}}},
		ev:    EvStopTimeout{Gen: 1},
		check: want(func(s State) bool { return s.Shutter == ShutterClosed && s.LED && s.Cap == CapStopping }),
	},
	{
		name: "camera lost: LED off, retry scheduled",
		from: stLive, ev: EvCaptureEnded{Gen: 1, Err: errLost},
		check: want(func(s State) bool {
			return !s.Gate && !s.LED && s.RetryWait && s.Viewing && s.Faults[FaultCamera] != ""
		}),
		acts: []Action{ActGate{Open: false}, ActTimer{Kind: TimerRetry, Gen: 1, After: time.Second}, ActLED{On: false}, ActPublish{}},
	},
	{
		name: "retry due: LED then capture again",
		from: stRetry, ev: EvRetry{Gen: 1},
		check: want(func(s State) bool { return s.Cap == CapStarting && s.LED && s.Gen == 2 }),
		acts:  []Action{ActLED{On: true}, ActStartCapture{Gen: 2}, ActPublish{}},
	},
	{
		name: "LED cannot be lit: node returns to privacy, never starts",
		from: State{ZoneOK: true, Viewing: true, Shutter: ShutterOpen, LED: true, Cap: CapStarting, Gen: 1},
		ev:   EvFailed{Action: ActLED{On: true}, Err: errors.New("EIO")},
		check: want(func(s State) bool {
			return !s.Viewing && s.Cap == CapOff && s.SettledPrivate() && s.Faults[FaultLED] != ""
		}),
		acts: []Action{ActPersist{Private: true}, ActShutter{Open: false}, ActLED{On: false}, ActPublish{}},
	},
	{
		name: "clinical zone refuses privacy off",
		from: stLocked, ev: EvPrivacy{ID: 3, Source: SourceHub},
		check: want(func(s State) bool { return !s.Viewing && s.SettledPrivate() }),
		acts:  []Action{ActReply{ID: 3, Err: &RefusedError{Reason: "clinical zone (consulting)"}}},
	},
	{
		name: "audio appears while live: capture stops, mode kept",
		from: stLive, ev: EvAudio{Device: "card1 USB Mic"},
		check: want(func(s State) bool { return s.Viewing && !s.Gate && s.Cap == CapStopping && s.Faults[FaultAudio] != "" }),
		acts:  []Action{ActGate{Open: false}, ActStopCapture{Gen: 1}, ActTimer{Kind: TimerStop, Gen: 1, After: 3 * time.Second}, ActPublish{}},
	},
	{
		name: "audio gone: capture allowed again",
		from: stAudio, ev: EvAudio{},
		check: want(func(s State) bool { return s.Cap == CapStarting && s.LED }),
		acts:  []Action{ActShutter{Open: true}, ActLED{On: true}, ActStartCapture{Gen: 1}, ActPublish{}},
	},
	{
		name: "button toggles live to private",
		from: stLive, ev: EvPrivacy{Toggle: true, Source: SourceButton},
		check: want(func(s State) bool { return !s.Viewing && !s.Gate }),
	},
	{
		name: "shutdown keeps the persisted mode",
		from: stLive, ev: EvShutdown{ID: 9},
		check: want(func(s State) bool { return s.Viewing && s.Shutdown && !s.Gate && s.Cap == CapStopping }),
		acts:  []Action{ActGate{Open: false}, ActStopCapture{Gen: 1}, ActTimer{Kind: TimerStop, Gen: 1, After: 3 * time.Second}, ActPublish{}},
	},
	{
		name: "stale STREAMOFF from an old session is ignored",
		from: stLive, ev: EvCaptureEnded{Gen: 0, Err: errLost},
		check: want(func(s State) bool { return s.Gate && s.Cap == CapStreaming }),
		acts:  nil,
	},
}

func want(f func(State) bool) func(State) string {
	return func(s State) string {
		if !f(s) {
			return fmt.Sprintf("unexpected state %+v", s)
		}
		return ""
	}
}

func withoutAudit(acts []Action) []Action {
	var out []Action
	for _, a := range acts {
		if _, ok := a.(ActAudit); !ok {
			out = append(out, a)
		}
	}
	return out
}

func TestStepCases(t *testing.T) {
	for _, tc := range stepCases {
		t.Run(tc.name, func(t *testing.T) {
			next, acts := step(tc.from, tc.ev, tm)
			if msg := tc.check(next); msg != "" {
				t.Error(msg)
			}
			if msg := checkStep(tc.from, tc.ev, next, acts); msg != "" {
				t.Error(msg)
			}
			if tc.acts != nil || len(withoutAudit(acts)) == 0 {
				if got := withoutAudit(acts); !reflect.DeepEqual(got, tc.acts) {
					t.Errorf("actions\n got %v\nwant %v", got, tc.acts)
				}
			}
		})
	}
}

func TestZeroStateIsSafe(t *testing.T) {
	var s State
	if !s.SettledPrivate() || s.Target() || s.Viewing || s.ZoneOK {
		t.Fatalf("zero State is not the safe state: %+v", s)
	}
	// Without a verified identity, no request can start the camera.
	for _, ev := range []Event{EvPrivacy{Source: SourceHub}, EvPrivacy{Toggle: true, Source: SourceButton}, EvRetry{}, EvSensor{Open: true}, EvAudio{}} {
		next, acts := step(s, ev, tm)
		for _, a := range acts {
			switch a.(type) {
			case ActStartCapture, ActLED, ActShutter, ActGate:
				if a.safe() {
					continue
				}
				t.Errorf("step(zero, %T) = %v: drives an output towards capture", ev, a)
			}
		}
		if next.Viewing {
			t.Errorf("step(zero, %T) left privacy", ev)
		}
	}
}

func TestRetryBackoffCapped(t *testing.T) {
	for _, tc := range []struct {
		retries int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {10, 8 * time.Second}, {1000, 8 * time.Second}} {
		if got := tm.retryDelay(tc.retries); got != tc.want {
			t.Errorf("retryDelay(%d) = %v, want %v", tc.retries, got, tc.want)
		}
	}
}

// FuzzStep drives step with random event sequences, simulating the loop
// (including failures of any action), and checks the invariants after each
// step. Seeds come from stepCases.
func FuzzStep(f *testing.F) {
	for i := range stepCases {
		f.Add([]byte{byte(i), 1, 2, 3, 0, 5, 7})
	}
	f.Add([]byte{0, 1, 4, 5, 6, 1, 2, 3, 9, 9, 9, 12, 1, 4})
	f.Fuzz(func(t *testing.T, seq []byte) {
		if len(seq) == 0 {
			return
		}
		s := stepCases[int(seq[0])%len(stepCases)].from
		for i := 1; i+1 < len(seq); i += 2 {
			ev := fuzzEvent(s, seq[i], seq[i+1])
			next, acts := step(s, ev, tm)
			if msg := checkStep(s, ev, next, acts); msg != "" {
				t.Fatalf("after %T%+v from %+v: %s\nactions %v", ev, ev, s, msg, acts)
			}
			s = next
		}
	})
}

func fuzzEvent(s State, kind, arg byte) Event {
	gen := s.Gen
	if arg&1 == 1 && gen > 0 {
		gen-- // a stale event
	}
	switch kind % 15 {
	case 0:
		return EvPrivacy{ID: uint64(arg), On: true, Source: SourceHub}
	case 1:
		return EvPrivacy{ID: uint64(arg), Source: SourceLocal}
	case 2:
		return EvPrivacy{Toggle: true, Source: SourceButton}
	case 3:
		return EvSensor{Open: arg&2 == 0}
	case 4:
		return EvShutterTimeout{Gen: s.ShutterGen}
	case 5:
		return EvCaptureStarted{Gen: gen}
	case 6:
		if arg&2 == 0 {
			return EvCaptureEnded{Gen: gen}
		}
		return EvCaptureEnded{Gen: gen, Err: errLost}
	case 7:
		return EvStopTimeout{Gen: gen}
	case 8:
		return EvRetry{Gen: gen}
	case 9:
		if arg&2 == 0 {
			return EvAudio{}
		}
		return EvAudio{Device: "card0"}
	case 10:
		acts := []Action{ActLED{On: true}, ActLED{On: false}, ActShutter{Open: true}, ActShutter{Open: false}, ActPersist{}, ActPersist{Private: true}, ActAudit{}}
		return EvFailed{Action: acts[int(arg)%len(acts)], Err: errors.New("injected")}
	case 14:
		return EvAudited{}
	case 11:
		return EvIdentity{OK: arg&2 == 0, Reason: "bad"}
	case 12:
		return EvShutdown{}
	default:
		return EvPrivacy{On: arg&2 == 0, Source: SourceHub}
	}
}
