// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
)

func rec(i int) agent.AuditRecord {
	return agent.AuditRecord{ID: fmt.Sprintf("id-%04d", i), Time: time.Date(2026, 11, 3, 10, 0, i, 0, time.UTC),
		Node: "n1", Kind: "privacy", Source: agent.SourceHub, Actor: "hub", Privacy: "on"}
}

func openOutbox(t *testing.T, path string, max int) *Outbox {
	t.Helper()
	o, err := OpenOutbox(path, OutboxOptions{MaxRecords: max, Node: "n1"})
	if err != nil {
		t.Fatalf("OpenOutbox: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func ids(recs []agent.AuditRecord) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.ID)
	}
	return strings.Join(s, ",")
}

func TestOutboxPersistsUntilAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	o := openOutbox(t, path, 0)
	for i := range 3 {
		if err := o.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Ack("id-0001"); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack("no-such-id"); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if err := o.Append(rec(9)); err == nil {
		t.Fatal("Append after Close succeeded")
	}

	// Restart: the unacknowledged records come back, in order.
	o2 := openOutbox(t, path, 0)
	if got := ids(o2.Pending(10)); got != "id-0000,id-0002" {
		t.Fatalf("pending after restart = %s", got)
	}
	select {
	case <-o2.Wake():
	default:
		t.Fatal("no wake-up for replayed records")
	}
	// Opening compacted the file: only the two pending records are left.
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("compacted file has %d lines:\n%s", n, b)
	}
}

func TestOutboxTornAndDamagedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	o := openOutbox(t, path, 0)
	o.Append(rec(1))
	o.Append(rec(2))
	o.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("garbage line\n{\"add\":{\"id\":\"id-0001\"}}\n{\"add\":{\"id\":\"id-0003\",\"ki") // damaged, duplicate, torn
	f.Close()

	o2 := openOutbox(t, path, 0)
	st := o2.Stats()
	if got := ids(o2.Pending(10)); !strings.HasPrefix(got, "id-0001,id-0002,") || st.Pending != 3 {
		t.Fatalf("pending = %s (%+v); want the two records and an overflow report", got, st)
	}
	last := o2.Pending(10)[2]
	if last.Kind != KindOutboxOverflow || !strings.Contains(last.Reason, "2 audit record(s)") {
		t.Fatalf("overflow report = %+v", last)
	}
}

func TestOutboxOverflowPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	o := openOutbox(t, path, 3)
	for i := range 5 {
		if err := o.Append(rec(i)); err != nil {
			t.Fatalf("Append %d: %v (a full outbox must not fail the agent)", i, err)
		}
	}
	if st := o.Stats(); st.Pending != 3 || st.Overflow != 2 {
		t.Fatalf("stats = %+v, want 3 pending, 2 overflow", st)
	}
	// The overflow counter survives a restart.
	o.Close()
	o = openOutbox(t, path, 3)
	if st := o.Stats(); st.Overflow != 2 {
		t.Fatalf("after restart stats = %+v", st)
	}
	p := MakeStatus(agent.Status{}, time.Now(), nil, o.Stats())
	if !strings.Contains(p.Faults[FaultAuditOutbox], "2 audit record(s)") {
		t.Fatalf("status faults = %v", p.Faults)
	}
	// Room again: the report is queued, the counter resets.
	if err := o.Ack("id-0000"); err != nil {
		t.Fatal(err)
	}
	pend := o.Pending(10)
	if st := o.Stats(); st.Overflow != 0 || len(pend) != 3 || pend[2].Kind != KindOutboxOverflow {
		t.Fatalf("after ack: %+v %s", st, ids(pend))
	}
	o.Close()
	o = openOutbox(t, path, 3)
	if got := o.Pending(10); len(got) != 3 || got[2].Kind != KindOutboxOverflow || o.Stats().Overflow != 0 {
		t.Fatalf("after restart: %s %+v", ids(got), o.Stats())
	}
}

func TestOutboxCompactsAcks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	o := openOutbox(t, path, 0)
	n := compactAfterAcks + 10
	for i := range n {
		o.Append(rec(i))
	}
	for i := range n - 1 {
		if err := o.Ack(rec(i).ID); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Count(string(b), "\n"); lines > 20 {
		t.Fatalf("file not compacted: %d lines", lines)
	}
	o.Close()
	o = openOutbox(t, path, 0)
	if got := ids(o.Pending(10)); got != rec(n-1).ID {
		t.Fatalf("pending = %s", got)
	}
}

func TestOutboxBadInput(t *testing.T) {
	dir := t.TempDir()
	o := openOutbox(t, filepath.Join(dir, "outbox.jsonl"), 0)
	if err := o.Append(agent.AuditRecord{Kind: "privacy"}); err == nil {
		t.Fatal("record without id accepted")
	}
	if o.Stats().Pending != 0 {
		t.Fatal("bad record queued")
	}
	if _, err := OpenOutbox(filepath.Join(dir, "missing", "outbox.jsonl"), OutboxOptions{}); err == nil {
		t.Fatal("outbox in a missing directory opened")
	}
}

func TestTee(t *testing.T) {
	dir := t.TempDir()
	fa, err := agent.OpenFileAuditor(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	o := openOutbox(t, filepath.Join(dir, "outbox.jsonl"), 1)
	a := Tee(fa, o)
	a.Append(rec(1))
	a.Append(rec(2)) // overflows the outbox; the local log still has it
	b, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if !strings.Contains(string(b), "id-0002") || o.Stats().Overflow != 1 {
		t.Fatalf("local log %s, outbox %+v", b, o.Stats())
	}
}
