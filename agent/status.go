// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"maps"
	"sort"
	"time"
)

// Status is the node's externally visible state, published after every
// change. It is a value: safe to keep and to marshal.
type Status struct {
	Node           string `json:"node"`
	Site           string `json:"site"`
	Room           string `json:"room"`
	ZoneClass      string `json:"zone_class"`
	CaptureAllowed bool   `json:"capture_allowed"` // the zone rule allows capture
	ZoneReason     string `json:"zone_reason,omitempty"`

	Privacy   bool              `json:"privacy"` // requested mode is private (or forced by a fault)
	Shutter   string            `json:"shutter"` // closed, opening, open
	Sensor    *bool             `json:"shutter_sensor_open,omitempty"`
	LED       bool              `json:"led"`       // recording LED commanded on
	Capture   string            `json:"capture"`   // off, starting, streaming, stopping
	Recording bool              `json:"recording"` // frames are leaving through the gate
	Format    string            `json:"format,omitempty"`
	FPS       float64           `json:"fps,omitempty"`
	Audio     string            `json:"audio"` // "absent" or the device found
	Faults    map[string]string `json:"faults"`
	Frames    uint64            `json:"frames"` // frames that passed the gate since start
	// CameraDropped counts frames the camera dropped since start (gaps in
	// its sequence numbers); CorruptFrames the frames the pipeline skipped
	// as corrupt (MJPEG a decoder refused, H.264 with a broken slice).
	CameraDropped uint64 `json:"camera_dropped"`
	CorruptFrames uint64 `json:"corrupt_frames"`
	Viewers       int    `json:"viewers"`         // live-view sessions open now
	Masks         int    `json:"masks,omitempty"` // privacy masks burned into every frame (absent: none)
	// RecorderSessions counts the RTSP readers (named recorders) playing
	// the node's recorder stream now (absent: none, or no server).
	RecorderSessions int `json:"recorder_sessions,omitempty"`
	// Push is the push to the hub's media server (nil: not configured, or
	// capture not allowed).
	Push *PushStatus `json:"push,omitempty"`
	// Link is the hub link's state (nil without MQTT). The link reports it
	// (Agent.SetLink); the loop does not own it.
	Link *LinkStatus `json:"link,omitempty"`

	Version string    `json:"version"`
	Since   time.Time `json:"since"` // agent start
	Time    time.Time `json:"time"`  // when this snapshot was taken
}

// LinkStatus is what the MQTT link reports about itself: connection state,
// the last connection error, and the audit records the hub has not
// acknowledged yet (docs/mqtt.md, "Link state").
type LinkStatus struct {
	State       string    `json:"state"`                  // connecting, connected, down, stopped
	LastError   string    `json:"last_error,omitempty"`   // the last connection failure, explained
	LastErrorAt time.Time `json:"last_error_at,omitzero"` // when it happened
	Failures    int       `json:"failures,omitempty"`     // failed attempts since the last connection
	NextAttempt time.Time `json:"next_attempt,omitzero"`  // when the next attempt is due (state down)
	// AuditUnacked counts the audit records the hub has not acknowledged;
	// AuditOldest is the time of the oldest of them.
	AuditUnacked int       `json:"audit_unacked"`
	AuditOldest  time.Time `json:"audit_oldest_unacked,omitzero"`
	// AuditWitnessed is the last chain head the hub acknowledged having
	// verified (docs/audit.md, "Hub witness"); nil: none yet.
	AuditWitnessed *ChainHead `json:"audit_witnessed,omitempty"`
	// Fault, when set, is a configuration error of the link that loses
	// data (e.g. a certificate CN that is not the node id): it is also
	// reported as the fault FaultHubLink.
	Fault string `json:"fault,omitempty"`
}

// FaultHubLink is the fault kind a LinkStatus.Fault is reported under.
const FaultHubLink = "hub_link"

// WithLink returns s with the link's state, and its fault if any, added.
// s's faults map is shared by every holder of s: it is copied first.
func (s Status) WithLink(l *LinkStatus) Status {
	if l == nil {
		return s
	}
	c := *l
	s.Link = &c
	if l.Fault != "" {
		f := make(map[string]string, len(s.Faults)+1)
		maps.Copy(f, s.Faults)
		f[FaultHubLink] = l.Fault
		s.Faults = f
	}
	return s
}

// SetLink records the hub link's state; Status returns it from now on.
// Safe from any goroutine; it does not republish the status (the link
// publishes its own).
func (a *Agent) SetLink(l LinkStatus) { a.link.Store(&l) }

// ViewerCounter is implemented by frame sinks that serve viewers (live
// view), so that the status can report how many are watching.
type ViewerCounter interface{ Viewers() int }

// PushStatus is the state of the push to the hub ([recorder] push).
type PushStatus struct {
	Target    string `json:"target"`    // the publish URL (never with credentials)
	Connected bool   `json:"connected"` // a session is recording at the hub now
}

// RecorderCounter is implemented by frame sinks that serve recorders (the
// pipeline, for the RTSPS recorder stream), so that the status can report
// how many are reading.
type RecorderCounter interface{ RecorderSessions() int }

// PushReporter is implemented by frame sinks that push the stream to the
// hub (the pipeline, for its publisher): the target URL ("" when there
// is no push) and whether a session is recording now.
type PushReporter interface {
	Push() (target string, connected bool)
}

// CorruptCounter is implemented by frame sinks that decode frames (the
// pipeline), so that the status can report the frames skipped as corrupt.
type CorruptCounter interface{ CorruptFrames() uint64 }

// counters reads the frame counters that grow without any transition,
// and the recorder sessions and push state, which change without one.
func (a *Agent) counters(st *Status) {
	st.Frames = a.frames.Load()
	st.CameraDropped = a.dropBase.Load() + a.dropCur.Load()
	st.CorruptFrames = 0
	st.RecorderSessions = 0
	st.Push = nil
	for _, sink := range a.deps.Sinks {
		if cc, ok := sink.(CorruptCounter); ok {
			st.CorruptFrames += cc.CorruptFrames()
		}
		if rc, ok := sink.(RecorderCounter); ok {
			st.RecorderSessions += rc.RecorderSessions()
		}
		if pr, ok := sink.(PushReporter); ok {
			if target, connected := pr.Push(); target != "" {
				st.Push = &PushStatus{Target: target, Connected: connected}
			}
		}
	}
}

// FaultList returns the faults sorted by kind name, as "kind: detail".
func (s Status) FaultList() []string {
	var out []string
	for k, v := range s.Faults {
		out = append(out, k+": "+v)
	}
	sort.Strings(out)
	return out
}

// publish stores a fresh snapshot and hands it to subscribers without
// blocking: a subscriber that has not read the previous value gets it
// replaced by the newest.
func (a *Agent) publish() {
	st := a.snapshot()
	a.status.Store(&st)
	a.subMu.Lock()
	defer a.subMu.Unlock()
	for c := range a.subs {
		select {
		case <-c:
		default:
		}
		select {
		case c <- st:
		default:
		}
	}
}

func (a *Agent) snapshot() Status {
	s := a.state
	id := a.cfg.Identity
	allowed, reason := a.zone()
	st := Status{
		Node: id.NodeID, Site: id.Site, Room: id.Room, ZoneClass: id.ZoneClass,
		CaptureAllowed: allowed,
		ZoneReason:     reason,
		Privacy:        !s.Viewing,
		Shutter:        s.Shutter.String(),
		LED:            s.LED,
		Capture:        s.Cap.String(),
		Recording:      s.Gate && s.Cap == CapStreaming,
		Audio:          "absent",
		Faults:         map[string]string{},
		Masks:          a.MaskCount(),
		Version:        a.cfg.Version,
		Since:          a.start,
		Time:           a.now(),
	}
	a.counters(&st)
	for _, sink := range a.deps.Sinks {
		if vc, ok := sink.(ViewerCounter); ok {
			st.Viewers += vc.Viewers()
		}
	}
	if s.HasSensor {
		open := s.SensorOpen
		st.Sensor = &open
	}
	if s.Audio != "" {
		st.Audio = s.Audio
	}
	if s.Cap == CapStreaming {
		st.Format = s.Format.String()
		st.FPS = s.Format.FPS()
	}
	for i, f := range s.Faults {
		if f != "" {
			st.Faults[Fault(i).String()] = f
		}
	}
	return st
}
