// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

func addLine(r agent.AuditRecord) string {
	b, _ := json.Marshal(outboxLine{Add: &r})
	return string(b)
}

func recJSON(r agent.AuditRecord) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// replayCases are outbox files (one string a line) and what replaying them
// must give: the pending ids (the overflow report aside) and how many lines
// are damaged. They seed FuzzOutboxReplay.
var replayCases = []struct {
	name    string
	lines   []string
	pending string
	damaged int
}{
	{"empty", nil, "", 0},
	{"adds and an ack", []string{addLine(rec(1)), addLine(rec(2)), `{"ack":"id-0001"}`}, "id-0002", 0},
	{"ack of an unknown id", []string{addLine(rec(1)), `{"ack":"zzz"}`}, "id-0001", 0},
	{"garbage between", []string{addLine(rec(1)), "garbage", addLine(rec(2))}, "id-0001,id-0002", 1},
	{"duplicate add", []string{addLine(rec(1)), addLine(rec(1))}, "id-0001", 1},
	{"add without id", []string{`{"add":{"id":"","time":"2026-11-03T10:00:00Z","node":"n1","kind":"privacy"}}`, addLine(rec(2))}, "id-0002", 1},
	{"record missing its time", []string{`{"add":{"id":"x1","node":"n1","kind":"privacy"}}`, addLine(rec(2))}, "id-0002", 1},
	{"case-variant keys", []string{`{"add":` + recJSON(rec(1)) + `,"ADD":` + recJSON(rec(3)) + `}`, addLine(rec(2))}, "id-0002", 1},
	{"case-variant record field", []string{strings.Replace(addLine(rec(1)), `"kind"`, `"Kind"`, 1), addLine(rec(2))}, "id-0002", 1},
	{"unknown member", []string{`{"add":` + recJSON(rec(1)) + `,"x":1}`, addLine(rec(2))}, "id-0002", 1},
	{"add and ack in one line", []string{addLine(rec(1)), `{"ack":"id-0001","add":` + recJSON(rec(3)) + `}`}, "id-0001", 1},
	{"empty object", []string{`{}`, addLine(rec(2))}, "id-0002", 1},
	{"null line", []string{`null`, addLine(rec(2))}, "id-0002", 1},
	{"overflow counter", []string{addLine(rec(1)), `{"overflow":{"count":2,"first":"2026-11-03T10:00:00Z","last":"2026-11-03T10:01:00Z"}}`}, "id-0001", 0},
	{"line too long", []string{addLine(rec(1)), strings.Repeat("x", maxOutboxLine+10), addLine(rec(2))}, "id-0001,id-0002", 1},
	{"NUL bytes", []string{addLine(rec(1)), "\x00\x00\x00", addLine(rec(2))}, "id-0001,id-0002", 1},
	{"invalid UTF-8", []string{addLine(rec(1)), "{\"ack\":\"\xff\"}", addLine(rec(2))}, "id-0001,id-0002", 1},
	{"CRLF", []string{addLine(rec(1)) + "\r", addLine(rec(2))}, "id-0001,id-0002", 0},
	{"high seq line", []string{`{"seq":42}`, addLine(rec(2))}, "id-0002", 0},
	{"seq with an add", []string{`{"seq":42,"add":` + recJSON(rec(1)) + `}`, addLine(rec(2))}, "id-0002", 1},
}

func writeLines(t testing.TB, path string, lines []string) {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// pendingIDs lists the pending ids but the overflow report's.
func pendingIDs(o *Outbox) string {
	var s []string
	for _, r := range o.Pending(DefaultOutboxRecords) {
		if r.Kind != KindOutboxOverflow {
			s = append(s, r.ID)
		}
	}
	return strings.Join(s, ",")
}

func TestOutboxReplayCases(t *testing.T) {
	for _, tc := range replayCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.jsonl")
			writeLines(t, path, tc.lines)
			o := openOutbox(t, path, 0)
			if got := pendingIDs(o); got != tc.pending || o.Damaged() != tc.damaged {
				t.Fatalf("pending %q damaged %d; want %q, %d", got, o.Damaged(), tc.pending, tc.damaged)
			}
			if tc.damaged > 0 {
				// Damaged lines are reported to the hub, not dropped silently.
				last := o.Pending(DefaultOutboxRecords)
				if len(last) == 0 || last[len(last)-1].Kind != KindOutboxOverflow {
					t.Fatalf("no overflow report for %d damaged lines", tc.damaged)
				}
			}
		})
	}
}

// FuzzOutboxReplay: whatever lies between two valid records in the outbox
// log, replaying it never panics or fails, and never loses either record
// unless the junk names its id; the compacted log replays to the same
// records with nothing damaged. (In memory: the file handling around the
// replay is TestOutboxReplayCases' and TestOutboxNotRegular's.)
func FuzzOutboxReplay(f *testing.F) {
	for _, tc := range replayCases {
		f.Add([]byte(strings.Join(tc.lines, "\n")))
	}
	a, b := rec(1), rec(2)
	a.ID, b.ID = "fuzz-keep-a", "fuzz-keep-b"
	f.Fuzz(func(t *testing.T, junk []byte) {
		content := addLine(a) + "\n" + string(junk) + "\n" + addLine(b) + "\n"
		o := newOutbox("", OutboxOptions{Node: "n1"})
		if _, err := o.replayFrom(strings.NewReader(content)); err != nil {
			t.Fatalf("replay: %v", err)
		}
		for _, r := range []agent.AuditRecord{a, b} {
			if bytes.Contains(junk, []byte(r.ID)) {
				continue
			}
			i := slices.IndexFunc(o.Pending(DefaultOutboxRecords), func(p agent.AuditRecord) bool { return p.ID == r.ID })
			if i < 0 {
				t.Fatalf("record %s lost", r.ID)
			}
			if got := o.Pending(DefaultOutboxRecords)[i]; !got.Time.Equal(r.Time) || got.Kind != r.Kind || got.Actor != r.Actor {
				t.Fatalf("record %s changed: %+v", r.ID, got)
			}
		}
		want := ids(o.Pending(DefaultOutboxRecords))
		o2 := newOutbox("", OutboxOptions{Node: "n1"})
		damaged, err := o2.replayFrom(o.compactedLocked())
		if err != nil || damaged != 0 {
			t.Fatalf("compacted log: %d damaged, %v", damaged, err)
		}
		if got := ids(o2.Pending(DefaultOutboxRecords)); got != want {
			t.Fatalf("after compaction %s, before %s", got, want)
		}
	})
}

// TestOutboxNotRegular: a FIFO, a device or a directory where the outbox
// should be is a clear error at once: no hang, no endless read.
func TestOutboxNotRegular(t *testing.T) {
	for kind, path := range firmwaretest.HostilePaths(t, t.TempDir(), "") {
		err := firmwaretest.NoHang(t, "OpenOutbox("+kind+")", func() error {
			o, err := OpenOutbox(path, OutboxOptions{})
			if err == nil {
				o.Close()
			}
			return err
		})
		if !errors.Is(err, firmware.ErrNotRegular) || !strings.Contains(err.Error(), "audit outbox") {
			t.Errorf("%s: err = %v, want a not-a-regular-file error", kind, err)
		}
	}
}

// TestOutboxHubAck: the broker's PUBACK (MarkSent) does not remove a
// record; the hub's acknowledgement (Ack) does; Resend makes sent records
// unsent again; the stats give the oldest pending record.
func TestOutboxHubAck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	o := openOutbox(t, path, 0)
	for i := range 3 {
		if err := o.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-o.Changed():
	default:
		t.Fatal("Append did not signal a change")
	}
	o.MarkSent("id-0000")
	o.MarkSent("id-0001")
	if got := ids(o.Unsent(10)); got != "id-0002" || !o.AwaitingAck() {
		t.Fatalf("unsent %s", got)
	}
	if st := o.Stats(); st.Pending != 3 || !st.Oldest.Equal(rec(0).Time) {
		t.Fatalf("stats %+v: a PUBACKed record left the outbox", st)
	}
	if err := o.Ack("id-0000"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.Acked():
	default:
		t.Fatal("Ack did not signal")
	}
	if st := o.Stats(); st.Pending != 2 || !st.Oldest.Equal(rec(1).Time) {
		t.Fatalf("stats after the ack %+v", st)
	}
	if n := o.Resend(); n != 2 || ids(o.Unsent(10)) != "id-0001,id-0002" {
		t.Fatalf("Resend %d, unsent %s", n, ids(o.Unsent(10)))
	}
	// A restart forgets the sent marks and keeps the unacknowledged records.
	o.MarkSent("id-0001")
	o.Close()
	o2 := openOutbox(t, path, 0)
	if got := ids(o2.Unsent(10)); got != "id-0001,id-0002" {
		t.Fatalf("after a restart unsent %s", got)
	}
}
