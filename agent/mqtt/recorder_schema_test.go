// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
)

// TestStatusSchemaRecorder: a node with recorder sessions and a push
// publishes them (recorder_sessions, push), the status schema documents
// both, and a node without them leaves them out (additive members).
func TestStatusSchemaRecorder(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	st := agent.Status{Node: "n1", Site: "s", Room: "Corridor", ZoneClass: "corridor", CaptureAllowed: true,
		Shutter: "open", Capture: "streaming", Recording: true, Audio: "absent", Faults: map[string]string{},
		Version: "test", Since: now, Time: now}
	s := loadSchema(t, "status.schema.json")
	b, err := json.Marshal(MakeStatus(st, now, nil, OutboxStats{}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "recorder_sessions") || strings.Contains(string(b), `"push"`) {
		t.Fatalf("no recorder, no push, yet named: %s", b)
	}
	if err := s.validate(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	st.RecorderSessions = 2
	st.Push = &agent.PushStatus{Target: "rtsps://hub.example:8322/n1", Connected: true}
	if b, err = json.Marshal(MakeStatus(st, now, nil, OutboxStats{})); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["recorder_sessions"] != 2.0 || m["push"] == nil {
		t.Fatalf("status %s lacks recorder_sessions or push", b)
	}
	if err := s.validate(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// The schema holds the shape: a push without a target does not pass.
	bad := strings.Replace(string(b), `"target":"rtsps://hub.example:8322/n1",`, "", 1)
	if err := s.validate([]byte(bad)); err == nil {
		t.Fatalf("schema accepts a push without its target: %s", bad)
	}
}
