// SPDX-License-Identifier: Apache-2.0

package agent

import (
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
	Frames    uint64            `json:"frames"`  // frames that passed the gate since start
	Viewers   int               `json:"viewers"` // live-view sessions open now

	Version string    `json:"version"`
	Since   time.Time `json:"since"` // agent start
	Time    time.Time `json:"time"`  // when this snapshot was taken
}

// ViewerCounter is implemented by frame sinks that serve viewers (live
// view), so that the status can report how many are watching.
type ViewerCounter interface{ Viewers() int }

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
		Frames:         a.frames.Load(),
		Version:        a.cfg.Version,
		Since:          a.start,
		Time:           a.now(),
	}
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
