// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/camnode/camnode/agent"
)

// TestBackfillAfterCrashBetweenWrites: records in audit.jsonl that never
// reached the outbox (the node crashed between the chain write and the
// outbox write) are queued at the next start, in chain order, so the hub's
// witness follows the whole chain; records already queued or acknowledged
// are not queued again, across compaction.
func TestBackfillAfterCrashBetweenWrites(t *testing.T) {
	dir := t.TempDir()
	chainPath := filepath.Join(dir, agent.CurrentAuditFile)
	obPath := filepath.Join(dir, "audit-outbox.jsonl")
	rec := func(i int) agent.AuditRecord {
		return agent.AuditRecord{ID: fmt.Sprintf("r%d", i), Node: "n", Kind: agent.KindPrivacy, Source: agent.SourceButton, Privacy: "on"}
	}
	ob, err := OpenOutbox(obPath, OutboxOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := agent.OpenAuditChain(chainPath, agent.ChainOptions{Node: "n", Forward: ob})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := chain.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	chain.Close()
	ob.Close()
	// The crash: two records reach the chain, not the outbox.
	bare, err := agent.OpenAuditChain(chainPath, agent.ChainOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 5; i++ {
		if err := bare.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	head := bare.Head()
	bare.Close()

	ob, err = OpenOutbox(obPath, OutboxOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ob.Backfill(dir)
	if err != nil || n != 2 {
		t.Fatalf("Backfill = %d, %v; want the 2 records missing from the outbox", n, err)
	}
	// The hub, receiving what the outbox publishes, witnesses the whole chain.
	var w agent.ChainWitness
	pending := ob.Pending(100)
	for _, r := range pending {
		b, _ := json.Marshal(r)
		if err := w.Observe(b); err != nil {
			t.Fatalf("hub: seq %d: %v", r.Seq, err)
		}
	}
	if w.Head == nil || *w.Head != head {
		t.Fatalf("hub witnessed %+v, chain head %+v", w.Head, head)
	}
	// Acknowledged, compacted (reopen), nothing to send again.
	for _, r := range pending {
		if err := ob.Ack(r.ID); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the first open compacts the acknowledged records away
		ob.Close()
		if ob, err = OpenOutbox(obPath, OutboxOptions{Node: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	defer ob.Close()
	if ob.HighSeq() != head.Seq {
		t.Fatalf("high seq %d after compaction, want %d", ob.HighSeq(), head.Seq)
	}
	if n, err := ob.Backfill(dir); err != nil || n != 0 {
		t.Fatalf("second Backfill = %d, %v; want nothing", n, err)
	}
}
