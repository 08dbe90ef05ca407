// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
)

// TestPrintStatusLink: `camnode privacy status` shows the hub link's state,
// its last error and the audit records the hub has not acknowledged, and
// the hub_link fault.
func TestPrintStatusLink(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	st := agent.Status{Node: "n1", Privacy: true, Shutter: "closed", Capture: "off", Audio: "absent", Masks: 3, Time: now}
	st = st.WithLink(&agent.LinkStatus{State: "down", Failures: 3, LastErrorAt: now.Add(-time.Second),
		LastError: "broker certificate not signed by the CA in /etc/camnode/ca.pem (x509)", NextAttempt: now.Add(4 * time.Second),
		AuditUnacked: 5, AuditOldest: now.Add(-90 * time.Second), AuditWitnessed: &agent.ChainHead{Seq: 42, Hash: strings.Repeat("ab", 32)}, Fault: `client certificate has CN "x", not the node id "n1"`})
	var b strings.Builder
	printStatus(&b, st)
	out := b.String()
	for _, want := range []string{
		"hub link  down, 3 failed attempt(s), next at ",
		"last error ", "broker certificate not signed by the CA in /etc/camnode/ca.pem",
		"audit     5 record(s) not yet acknowledged by the hub, oldest from ", "(1m30s ago)",
		`hub_link: client certificate has CN "x"`,
		"masks     3 privacy mask(s) burned into every frame",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// Without MQTT there is no link line.
	b.Reset()
	printStatus(&b, agent.Status{Node: "n1"})
	if !strings.Contains(b.String(), "masks     none") {
		t.Errorf("a node without masks does not say so:\n%s", b.String())
	}
	if strings.Contains(b.String(), "hub link") {
		t.Errorf("a node without MQTT shows a hub link:\n%s", b.String())
	}
}

// TestPrintStatusStreams: `camnode privacy status` shows the live-view
// viewers and the recorder's RTSP readers, and the push to the hub (its
// target and whether it is connected); no push line without a push.
func TestPrintStatusStreams(t *testing.T) {
	for _, tc := range []struct {
		push *agent.PushStatus
		want []string
		not  string
	}{
		{nil, []string{"streams   2 live-view viewer(s), 3 recorder session(s) (RTSP readers)"}, "push "},
		{&agent.PushStatus{Target: "rtsps://hub:8322/n1", Connected: true}, []string{"push      connected, recording at rtsps://hub:8322/n1"}, "not connected"},
		{&agent.PushStatus{Target: "rtsps://hub:8322/n1"}, []string{"push      not connected to rtsps://hub:8322/n1"}, "recording at"},
	} {
		var b strings.Builder
		printStatus(&b, agent.Status{Node: "n1", Viewers: 2, RecorderSessions: 3, Push: tc.push})
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("missing %q in:\n%s", w, b.String())
			}
		}
		if strings.Contains(b.String(), tc.not) {
			t.Errorf("%q in:\n%s", tc.not, b.String())
		}
	}
}
