// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
)

// TestAuditPayloadIsTheChainLine: what the outbox publishes (after a
// restart: replayed from its file) is byte for byte the record's line in
// the chain, for awkward content and checkpoints too, so the hub's copy
// verifies; and it matches audit.schema.json.
func TestAuditPayloadIsTheChainLine(t *testing.T) {
	dir := t.TempDir()
	ob, err := OpenOutbox(filepath.Join(dir, "outbox.jsonl"), OutboxOptions{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := agent.OpenAuditChain(filepath.Join(dir, "audit.jsonl"), agent.ChainOptions{Node: "n1", Forward: ob,
		Key: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), CheckpointEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	paris := time.FixedZone("CET", 3600)
	recs := []agent.AuditRecord{
		{ID: agent.NewAuditID(), Time: time.Date(2026, 3, 1, 9, 0, 0, 123456789, paris), Node: "n1", Kind: "privacy", Source: agent.SourceLocal, Actor: "uid 1000 <root> & co", Privacy: "off"},
		{ID: agent.NewAuditID(), Time: time.Date(2026, 3, 1, 9, 0, 1, 0, time.UTC), Node: "n1", Kind: "refusal", Reason: "ünïcödé \u2028 line sep \x7f \"quoted\""},
		{ID: agent.NewAuditID(), Time: time.Date(2026, 3, 1, 9, 0, 2, 500, time.Local), Node: "n1", Kind: "view", Actor: "dr who",
			View: &agent.SessionRecord{Session: "s", Role: "staff", Purpose: "p", Remote: "[::1]:1", Start: time.Date(2026, 3, 1, 9, 0, 0, 0, paris),
				End: time.Date(2026, 3, 1, 9, 0, 2, 0, paris), Frames: 7, Ended: "bye"}},
		// Session starts (live view, recorder, push: one shape).
		agent.SessionStartAudit(agent.KindView, "liveview", "dr who", agent.SessionRecord{Session: "s2", Role: "staff", Purpose: "p",
			Remote: "[::1]:2", Start: time.Date(2026, 3, 1, 9, 0, 2, 0, paris)}),
		agent.SessionStartAudit(agent.KindRecording, "push", "hub", agent.SessionRecord{Session: "p2", Role: "push", Purpose: "recording",
			Remote: "rtsps://hub:322/n1", Start: time.Date(2026, 3, 1, 9, 0, 2, 0, time.UTC), Frames: 3, Ended: "ignored"}),
		// A recorder-stream session (agent/recorder): kind record, with bytes.
		{ID: agent.NewAuditID(), Time: time.Date(2026, 3, 1, 9, 0, 3, 0, time.UTC), Node: "n1", Kind: agent.KindRecording, Source: "recorder", Actor: "mediamtx",
			Reason: "privacy: gate closed", View: &agent.SessionRecord{Session: "r", Role: "recorder", Purpose: "recording", Remote: "10.0.0.2:5000",
				Start: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 9, 0, 3, 0, time.UTC), Frames: 90, Bytes: 123456, Ended: "privacy: gate closed"}},
		// A push session to the hub's media server (agent/recorder/push).
		agent.SessionAudit(agent.KindRecording, "push", "rtsps://hub:322/n1", "privacy: cut", agent.SessionRecord{Session: "p",
			Role: "recorder", Purpose: "push", Remote: "hub:322", Start: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
			End: time.Date(2026, 3, 1, 9, 0, 4, 0, time.UTC), Frames: 120, Bytes: 654321}),
		{ID: agent.NewAuditID(), Time: time.Date(2026, 3, 1, 9, 0, 5, 0, time.UTC), Node: "n1", Kind: agent.KindFault, Source: agent.SourceAgent,
			Fault: "audio", Reason: "audio device present: card0"},
		{ID: agent.NewAuditID(), Time: time.Date(2026, 3, 1, 9, 0, 6, 0, time.UTC), Node: "n1", Kind: agent.KindBoot, Source: agent.SourceAgent,
			Life: &agent.LifeRecord{Version: "v1", BootID: "b", PID: 42, Identity: strings.Repeat("a", 64), Config: strings.Repeat("b", 64), ClockSync: agent.ClockSynchronized}},
		{ID: agent.NewAuditID(), Time: time.Date(2026, 3, 1, 9, 0, 7, 0, time.UTC), Node: "n1", Kind: agent.KindClock, Source: agent.SourceAgent,
			Life: &agent.LifeRecord{Jump: "+1h0m0s", ClockSync: agent.ClockUnsynchronized}},
	}
	for i := range recs {
		if recs[i].ID == "" {
			recs[i].ID, recs[i].Time, recs[i].Node = agent.NewAuditID(), time.Date(2026, 3, 1, 9, 0, 4, 0, time.UTC), "n1"
		}
	}
	for _, r := range recs {
		if err := chain.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	chain.Close()
	ob.Close()
	ob, err = OpenOutbox(filepath.Join(dir, "outbox.jsonl"), OutboxOptions{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	data, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	pending := ob.Pending(100)
	schema := loadSchema(t, "audit.schema.json")
	if len(pending) != len(lines) {
		t.Fatalf("%d pending, %d lines", len(pending), len(lines))
	}
	for i, r := range pending {
		b, err := auditPayload(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, lines[i]) {
			t.Fatalf("record %d published as\n%s\nchain line\n%s", i, b, lines[i])
		}
		// And the hub's strict parser and the published schema accept it.
		if _, err := ParseAuditRecord(b); err != nil {
			t.Fatal(err)
		}
		if err := schema.validate(b); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
	}
}

// TestOutboxWitness: the head the hub witnessed is kept across restarts,
// only ever moves forward, refuses a different hash for the same seq, and
// is published in the status (schema-valid).
func TestOutboxWitness(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.jsonl")
	ob, err := OpenOutbox(path, OutboxOptions{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	h := func(seq uint64, c string) agent.ChainHead {
		return agent.ChainHead{Seq: seq, Hash: strings.Repeat(c, 64)}
	}
	if ob.Stats().Witnessed != nil {
		t.Fatal("witnessed head before any ack")
	}
	if err := ob.Witness(h(5, "a")); err != nil {
		t.Fatal(err)
	}
	if err := ob.Witness(h(3, "b")); err != nil { // an older ack arriving late
		t.Fatal(err)
	}
	if err := ob.Witness(h(5, "c")); err == nil || !strings.Contains(err.Error(), "witnessed seq 5 with hash") {
		t.Fatalf("conflicting head: %v", err)
	}
	if err := ob.Witness(agent.ChainHead{Seq: 9, Hash: "xyz"}); err == nil {
		t.Fatal("bad head accepted")
	}
	ob.Close()
	ob, err = OpenOutbox(path, OutboxOptions{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	st := ob.Stats()
	if st.Witnessed == nil || *st.Witnessed != h(5, "a") {
		t.Fatalf("after restart witnessed %+v, want seq 5", st.Witnessed)
	}
	b, _ := json.Marshal(MakeStatus(testStatus(), time.Now(), nil, st))
	if err := loadSchema(t, "status.schema.json").validate(b); err != nil || !strings.Contains(string(b), `"witnessed":{"seq":5`) {
		t.Fatalf("status %s: %v", b, err)
	}
	// A damaged witness file: ignored (logged), the node still starts.
	if err := os.WriteFile(filepath.Join(dir, "audit-witness.json"), []byte(`{"seq":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ob2, err := OpenOutbox(path, OutboxOptions{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer ob2.Close()
	if ob2.Stats().Witnessed != nil {
		t.Fatal("a damaged witness file was taken")
	}
}
