// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func kinds(recs []AuditRecord) string {
	var k []string
	for _, r := range recs {
		k = append(k, r.Kind)
	}
	return strings.Join(k, ",")
}

// TestAuditLife: boots and clean stops are recorded; a run that never
// stopped (kill -9, power loss) is recorded as a crash at the next start,
// with its pid and whether the node rebooted since; a changed identity or
// configuration is recorded with both hashes; an unreadable marker is a
// crash that cannot be ruled out, never a silent start.
func TestAuditLife(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0 }
	facts := LifeFacts{Version: "1.2", BootID: "boot-a", PID: 10, Identity: []byte("id-1"), Config: []byte("cfg-1"), ClockSync: ClockSynchronized}
	start := func(f LifeFacts) (*Life, []AuditRecord) {
		t.Helper()
		aud := &memAudit{}
		l, err := StartLife(dir, f, aud, "ward-3", now)
		if err != nil {
			t.Fatal(err)
		}
		return l, aud.records()
	}

	// First start: just the boot.
	l, recs := start(facts)
	if got := kinds(recs); got != "boot" {
		t.Fatalf("first start recorded %s, want boot", got)
	}
	b := recs[0]
	if b.Node != "ward-3" || b.ID == "" || b.Life.Version != "1.2" || b.Life.Identity != HashOf([]byte("id-1")) ||
		b.Life.Config != HashOf([]byte("cfg-1")) || b.Life.ClockSync != ClockSynchronized || b.Life.BootID != "boot-a" {
		t.Fatalf("boot record %+v %+v", b, b.Life)
	}
	// Clean stop, restart: boot only.
	aud := &memAudit{}
	l.aud = aud
	if err := l.Stop("signal"); err != nil {
		t.Fatal(err)
	}
	if got := kinds(aud.records()); got != "stop" {
		t.Fatalf("stop recorded %s", got)
	}
	_, recs = start(facts)
	if got := kinds(recs); got != "boot" {
		t.Fatalf("start after a clean stop recorded %s, want boot", got)
	}

	// No stop (kill -9), same boot: a crash of pid 10.
	facts.PID = 11
	_, recs = start(facts)
	if got := kinds(recs); got != "crash,boot" {
		t.Fatalf("start after a kill recorded %s, want crash,boot", got)
	}
	if c := recs[0]; !strings.Contains(c.Reason, "pid 10") || strings.Contains(c.Reason, "rebooted") || c.Life.PID != 10 {
		t.Fatalf("crash record %q %+v", c.Reason, c.Life)
	}

	// Power loss: another boot id; identity and configuration changed too.
	f2 := facts
	f2.BootID, f2.PID, f2.Identity, f2.Config = "boot-b", 12, []byte("id-2"), []byte("cfg-2")
	_, recs = start(f2)
	if got := kinds(recs); got != "crash,identity_change,config_change,boot" {
		t.Fatalf("start after power loss with a new identity recorded %s", got)
	}
	if !strings.Contains(recs[0].Reason, "rebooted") {
		t.Fatalf("crash across a reboot: %q", recs[0].Reason)
	}
	if id := recs[1].Life; id.Previous != HashOf([]byte("id-1")) || id.Identity != HashOf([]byte("id-2")) {
		t.Fatalf("identity change %+v", id)
	}
	if c := recs[2].Life; c.Previous != HashOf([]byte("cfg-1")) || c.Config != HashOf([]byte("cfg-2")) {
		t.Fatalf("config change %+v", c)
	}

	// A damaged marker: recorded as a crash that cannot be ruled out.
	if err := os.WriteFile(filepath.Join(dir, LifeFile), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, recs = start(f2)
	if got := kinds(recs); got != "crash,boot" || !strings.Contains(recs[0].Reason, "cannot be ruled out") {
		t.Fatalf("start with a damaged marker recorded %s %q", got, recs[0].Reason)
	}

	// A stop that cannot be recorded leaves the marker: the next start
	// says the stop was not clean.
	l, _ = start(f2)
	l.aud = &memAudit{fail: errors.New("ENOSPC")}
	if err := l.Stop("signal"); err == nil {
		t.Fatal("an unrecorded stop returned nil")
	}
	if _, recs = start(f2); kinds(recs) != "crash,boot" {
		t.Fatalf("after an unrecorded stop: %s, want crash,boot", kinds(recs))
	}
}

// TestClockWatch: the first check records the sync state; a wall clock that
// moves differently from the monotonic clock by the threshold or more is a
// jump (either way), less is not; a change of sync state is recorded.
func TestClockWatch(t *testing.T) {
	wall := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var mono time.Duration
	sync := ClockUnsynchronized
	aud := &memAudit{}
	w := &ClockWatch{Read: func() (time.Time, time.Duration) { return wall, mono }, Sync: func() string { return sync },
		Record: aud.Append}
	check := func(want string) {
		t.Helper()
		if err := w.Check(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range aud.records() {
			got = append(got, r.Reason)
		}
		aud.recs = nil
		if g := strings.Join(got, "; "); g != want {
			t.Fatalf("check recorded %q, want %q", g, want)
		}
	}
	check("clock sync state at start: unsynchronized")
	wall, mono = wall.Add(time.Minute), mono+time.Minute
	check("")
	wall, mono = wall.Add(time.Minute+time.Second), mono+time.Minute // under the threshold
	check("")
	wall, mono, sync = wall.Add(time.Hour+time.Minute), mono+time.Minute, ClockSynchronized
	check("wall clock jumped +1h0m0s against the monotonic clock (from 2026-12-01T09:02:01Z, sync synchronized); clock sync state changed: unsynchronized -> synchronized")
	wall, mono = wall.Add(-time.Hour), mono+time.Second
	check("wall clock jumped -1h0m1s against the monotonic clock (from 2026-12-01T10:03:01Z, sync synchronized)")
}
