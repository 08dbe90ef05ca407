// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
)

// validStatus is a status as a node publishes it.
func validStatus() string {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	st := agent.Status{Node: "lobby-1", Site: "s", Room: "Lobby", ZoneClass: "reception", CaptureAllowed: true,
		Privacy: true, Shutter: "closed", Capture: "off", Audio: "absent", Faults: map[string]string{},
		Version: "test", Since: now.Add(-time.Minute), Time: now,
		Link: &agent.LinkStatus{State: "connected", AuditUnacked: 2, AuditOldest: now}}
	b, _ := json.Marshal(mqtt.MakeStatus(st, now, nil, mqtt.OutboxStats{Pending: 2, Oldest: now}))
	return string(b)
}

// statusCases are retained status payloads and whether camctl watch takes
// them. They seed FuzzWatchStatus.
var statusCases = []struct {
	name, payload string
	ok            bool
}{
	{"valid", validStatus(), true},
	{"case-variant duplicate", strings.Replace(validStatus(), `{"node":"lobby-1"`, `{"node":"lobby-1","Node":"other"`, 1), false},
	{"duplicate", strings.Replace(validStatus(), `{"node":"lobby-1"`, `{"node":"lobby-1","node":"other"`, 1), false},
	// A newer node adds members (docs/mqtt.md, "Compatibility"): an older
	// camctl still reads what it knows.
	{"member from a newer node", strings.Replace(validStatus(), `{"node":"lobby-1"`, `{"node":"lobby-1","x":1`, 1), true},
	{"newer node's nested member", strings.Replace(validStatus(), `"audit_outbox":{`, `"audit_outbox":{"x":[1],`, 1), true},
	// A status without a member every version sends is not a status: a
	// missing "privacy" must not read as privacy off.
	{"privacy missing", strings.Replace(validStatus(), `"privacy":true,`, ``, 1), false},
	{"privacy null", strings.Replace(validStatus(), `"privacy":true`, `"privacy":null`, 1), false},
	{"capture missing", strings.Replace(validStatus(), `"capture":"off",`, ``, 1), false},
	{"wrong case", strings.Replace(validStatus(), `"privacy":true`, `"Privacy":false`, 1), false},
	{"outbox missing", `{"node":"n"}`, false},
	{"not an object", `[1]`, false},
	{"empty", ``, false},
	{"trailing data", validStatus() + `{}`, false},
	{"too large", `{"node":"` + strings.Repeat("a", maxStatusSize) + `"}`, false},
	{"wrong type", strings.Replace(validStatus(), `"privacy":true`, `"privacy":"yes"`, 1), false},
}

func TestParseStatus(t *testing.T) {
	for _, tc := range statusCases {
		st, err := parseStatus([]byte(tc.payload))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
		if tc.ok && (st.Node != "lobby-1" || !st.Privacy || st.Link == nil || st.Link.AuditUnacked != 2 || st.Outbox.Pending != 2) {
			t.Errorf("%s: decoded %+v", tc.name, st)
		}
	}
}

// FuzzWatchStatus: whatever arrives on a node's status topic, watch never
// panics, and renders the table; a payload it takes re-encodes and decodes
// to the same status.
func FuzzWatchStatus(f *testing.F) {
	for _, tc := range statusCases {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		fl := &fleet{nodes: map[string]*nodeView{}, prefix: "camnode", change: make(chan struct{}, 1)}
		fl.handle("camnode/n1/status", payload)
		fl.handle("camnode/n1/availability", payload)
		var out strings.Builder
		fl.table(&out)
		if !strings.Contains(out.String(), "n1") {
			t.Fatalf("node missing from the table:\n%s", out.String())
		}
		st, err := parseStatus(payload)
		if err != nil {
			return
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("re-encoding an accepted status: %v", err)
		}
		if _, err := parseStatus(b); err != nil {
			t.Fatalf("an accepted status does not decode again: %v\n%s", err, b)
		}
	})
}

// auditCases are audit records as camctl audit reads them. They seed
// FuzzAuditRecord.
var auditCases = []struct {
	name, payload string
	ok            bool
}{
	{"privacy", `{"id":"0123456789abcdef0123456789abcdef","time":"2026-11-03T10:00:00Z","node":"lobby-1","kind":"privacy","source":"hub","actor":"hub:alice","privacy":"off"}`, true},
	{"view", `{"id":"v1","time":"2026-11-03T10:00:00Z","node":"n","kind":"view","actor":"dr","view":{"session":"s","role":"r","purpose":"p","remote":"1.2.3.4","start":"2026-11-03T10:00:00Z","end":"2026-11-03T10:01:00Z","frames":3,"ended":"closed"}}`, true},
	{"missing time", `{"id":"a1","node":"n","kind":"privacy"}`, false},
	{"bad id", `{"id":"a/1","time":"2026-11-03T10:00:00Z","node":"n","kind":"privacy"}`, false},
	{"case-variant duplicate", `{"id":"a1","time":"2026-11-03T10:00:00Z","node":"n","kind":"privacy","privacy":"on","Privacy":"off"}`, false},
	{"unknown member", `{"id":"a1","time":"2026-11-03T10:00:00Z","node":"n","kind":"privacy","x":1}`, false},
	{"view start", `{"id":"v2","time":"2026-11-03T10:00:00Z","node":"n","kind":"view_start","actor":"dr","view":{"session":"s","role":"r","purpose":"p","remote":"1.2.3.4","start":"2026-11-03T10:00:00Z","frames":0}}`, true},
	{"view start with an end", `{"id":"v2","time":"2026-11-03T10:00:00Z","node":"n","kind":"view_start","view":{"session":"s","role":"r","purpose":"p","remote":"1.2.3.4","start":"2026-11-03T10:00:00Z","end":"2026-11-03T10:01:00Z","frames":0,"ended":"x"}}`, false},
	{"view without end", `{"id":"v1","time":"2026-11-03T10:00:00Z","node":"n","kind":"view","view":{"session":"s","role":"r","purpose":"p","remote":"1.2.3.4","start":"2026-11-03T10:00:00Z","frames":3}}`, false},
	{"view missing frames", `{"id":"v1","time":"2026-11-03T10:00:00Z","node":"n","kind":"view","view":{"session":"s"}}`, false},
	{"null", `null`, false},
}

func TestParseAuditRecord(t *testing.T) {
	for _, tc := range auditCases {
		_, err := mqtt.ParseAuditRecord([]byte(tc.payload))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// FuzzAuditRecord: camctl audit's reader never panics; an accepted record
// has a usable id (it is acknowledged by it) and survives a round trip.
func FuzzAuditRecord(f *testing.F) {
	for _, tc := range auditCases {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := mqtt.ParseAuditRecord(payload)
		if err != nil {
			return
		}
		if _, err := mqtt.ParseAuditAck(mqtt.AckPayload(r.ID)); err != nil {
			t.Fatalf("the acknowledgement of accepted record %q is refused: %v", r.ID, err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mqtt.ParseAuditRecord(b); err != nil {
			t.Fatalf("an accepted record does not decode again: %v\n%s", err, b)
		}
	})
}

// TestWatchTableMasks: watch shows how many privacy masks each node burns
// in, under MASKS; a node that predates masks (no field) shows 0.
func TestWatchTableMasks(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	st := agent.Status{Node: "n1", Site: "s", Room: "Corridor", ZoneClass: "corridor", CaptureAllowed: true,
		Privacy: true, Shutter: "closed", Capture: "off", Audio: "absent", Faults: map[string]string{},
		Masks: 3, Version: "test", Since: now, Time: now}
	masked, _ := json.Marshal(mqtt.MakeStatus(st, now, nil, mqtt.OutboxStats{}))
	fl := &fleet{nodes: map[string]*nodeView{}, prefix: "camnode", change: make(chan struct{}, 1)}
	fl.handle("camnode/n1/status", masked)
	fl.handle("camnode/n2/status", []byte(strings.Replace(validStatus(), `"node":"lobby-1"`, `"node":"n2"`, 1)))
	var out strings.Builder
	fl.table(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	col := slices.Index(strings.Fields(lines[0]), "MASKS")
	if col < 0 || len(lines) != 3 {
		t.Fatalf("no MASKS column or wrong rows:\n%s", out.String())
	}
	for i, want := range []string{"3", "0"} {
		if f := strings.Fields(lines[i+1]); len(f) <= col || f[col] != want {
			t.Fatalf("row %d: MASKS = %v, want %s:\n%s", i+1, f, want, out.String())
		}
	}
}
