// SPDX-License-Identifier: Apache-2.0

package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
)

// TestWatchShowsWitnessedHead: `camctl watch` shows, per node, the last
// chain head the hub witnessed (docs/audit.md, "Hub witness"), and "-"
// for a node with none.
func TestWatchShowsWitnessedHead(t *testing.T) {
	f := &fleet{nodes: map[string]*nodeView{}, prefix: "camnode", change: make(chan struct{}, 1)}
	f.nodes["ward-3"] = &nodeView{online: "online", status: &mqtt.StatusPayload{Status: agent.Status{Node: "ward-3"},
		Outbox: mqtt.OutboxStats{Witnessed: &agent.ChainHead{Seq: 1234, Hash: strings.Repeat("0", 64)}}}}
	f.nodes["ward-4"] = &nodeView{online: "online", status: &mqtt.StatusPayload{Status: agent.Status{Node: "ward-4"}}}
	var b strings.Builder
	f.table(&b)
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[0], "WITNESSED") {
		t.Fatalf("no WITNESSED column:\n%s", b.String())
	}
	col := strings.Index(lines[0], "WITNESSED")
	if got := strings.Fields(lines[1][col:])[0:2]; strings.Join(got, " ") != "seq 1234" {
		t.Errorf("ward-3 witnessed = %q, want seq 1234:\n%s", got, b.String())
	}
	if got := strings.Fields(lines[2][col:])[0]; got != "-" {
		t.Errorf("ward-4 witnessed = %q, want -:\n%s", got, b.String())
	}
}

// TestWatchShowsStreams: `camctl watch` shows each node's live-view
// viewers, recorder sessions (RTSP readers) and push state: "up" while a
// session records at the hub, "down" otherwise, "-" with no push (and for
// a node that predates these members).
func TestWatchShowsStreams(t *testing.T) {
	f := &fleet{nodes: map[string]*nodeView{}, prefix: "camnode", change: make(chan struct{}, 1)}
	f.nodes["a"] = &nodeView{online: "online", status: &mqtt.StatusPayload{Status: agent.Status{Node: "a", Room: "r", ZoneClass: "waiting", CaptureAllowed: true, Shutter: "open", Capture: "streaming", Viewers: 1, RecorderSessions: 2,
		Push: &agent.PushStatus{Target: "rtsps://hub/a", Connected: true}}}}
	f.nodes["b"] = &nodeView{online: "online", status: &mqtt.StatusPayload{Status: agent.Status{Node: "b", Room: "r", ZoneClass: "waiting", CaptureAllowed: true, Shutter: "open", Capture: "streaming",
		Push: &agent.PushStatus{Target: "rtsps://hub/b"}}}}
	f.nodes["c"] = &nodeView{online: "online", status: &mqtt.StatusPayload{Status: agent.Status{Node: "c", Room: "r", ZoneClass: "waiting", CaptureAllowed: true, Shutter: "closed", Capture: "off"}}}
	var b strings.Builder
	f.table(&b)
	lines := strings.Split(b.String(), "\n")
	head := strings.Fields(lines[0])
	for row, want := range [][3]string{{"1", "2", "up"}, {"0", "0", "down"}, {"0", "0", "-"}} {
		f := strings.Fields(lines[row+1])
		for i, col := range []string{"VIEWERS", "RTSP", "PUSH"} {
			at := slices.Index(head, col)
			if at < 0 || len(f) <= at || f[at] != want[i] {
				t.Errorf("row %d %s: %v, want %s:\n%s", row+1, col, f, want[i], b.String())
			}
		}
	}
}
