// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// recorderSink reports recorder sessions and a push state that the test
// changes, like the pipeline does for its outputs.
type recorderSink struct {
	recSink
	readers   atomic.Int32
	target    atomic.Pointer[string]
	connected atomic.Bool
}

func (c *recorderSink) RecorderSessions() int { return int(c.readers.Load()) }

func (c *recorderSink) Push() (string, bool) {
	t := ""
	if p := c.target.Load(); p != nil {
		t = *p
	}
	return t, c.connected.Load()
}

// TestStatusRecorderAndPush: the status reports the RTSP readers and the
// push state as the sinks report them now (they change without any
// transition of the loop), and leaves both out of the JSON when there are
// none (additive members, docs/mqtt.md "Compatibility").
func TestStatusRecorderAndPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := &recorderSink{}
		r := newRig(t, func(_ *Config, d *Deps, _ *rig) { d.Sinks = []FrameSink{cs} })
		st := r.a.Status()
		if st.RecorderSessions != 0 || st.Push != nil {
			t.Fatalf("at start: recorder sessions %d, push %+v", st.RecorderSessions, st.Push)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "recorder_sessions") || strings.Contains(string(b), `"push"`) {
			t.Fatalf("no recorder, no push, yet the status names them: %s", b)
		}
		url := "rtsps://hub.example:8322/ward-3"
		cs.target.Store(&url)
		cs.readers.Store(2)
		st = r.a.Status()
		if st.RecorderSessions != 2 || st.Push == nil || st.Push.Target != url || st.Push.Connected {
			t.Fatalf("2 readers, push not connected: got %d, %+v", st.RecorderSessions, st.Push)
		}
		cs.connected.Store(true)
		if st = r.a.Status(); st.Push == nil || !st.Push.Connected {
			t.Fatalf("push connected: got %+v", st.Push)
		}
		b, _ = json.Marshal(st)
		if !strings.Contains(string(b), `"recorder_sessions":2`) || !strings.Contains(string(b), `"push":{"target":"rtsps://hub.example:8322/ward-3","connected":true}`) {
			t.Fatalf("status JSON: %s", b)
		}
		// Published snapshots (MQTT) read them too.
		cs.readers.Store(1)
		r.a.Refresh()
		synctest.Wait()
		ch, cancel := r.a.Subscribe()
		defer cancel()
		if got := (<-ch).RecorderSessions; got != 1 {
			t.Fatalf("published recorder sessions %d, want 1", got)
		}
	})
}
