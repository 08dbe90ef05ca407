// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
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
			View: &agent.ViewRecord{Session: "s", Role: "staff", Purpose: "p", Remote: "[::1]:1", Start: time.Date(2026, 3, 1, 9, 0, 0, 0, paris), Frames: 7, Ended: "bye"}},
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
