// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
)

// memAudit keeps the records it is given; fail, when set, is returned
// instead (the record is not kept).
type memAudit struct {
	mu   sync.Mutex
	recs []AuditRecord
	fail error
}

func (m *memAudit) Append(r AuditRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.recs = append(m.recs, r)
	return nil
}

func (m *memAudit) records() []AuditRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]AuditRecord(nil), m.recs...)
}

// summary is one line per record: kind source actor privacy fault reason.
func (m *memAudit) summary() string {
	var b strings.Builder
	for _, r := range m.records() {
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s\n", r.Kind, r.Source, r.Actor, r.Privacy, r.Fault, r.Reason)
	}
	return b.String()
}

func withAudit(a Auditor) rigOpt {
	return func(_ *Config, d *Deps, _ *rig) { d.Audit = a }
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("no record %q in:\n%s", w, got)
		}
	}
}

// TestAuditPrivacyFromEverySource: a privacy change is recorded whoever
// made it: the button, a local user (uid/pid), the hub's actor, and the
// agent itself after a fault, whose record names the fault (it used to be a
// "fault" record that did not say privacy changed, or which fault).
func TestAuditPrivacyFromEverySource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		aud := &memAudit{}
		r := newRig(t, withAudit(aud))
		ctx := context.Background()
		r.btn.Press()
		synctest.Wait()
		if _, err := r.a.SetPrivacy(ctx, false, SourceLocal, "uid=1000 pid=42"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.a.SetPrivacy(ctx, true, SourceHub, "alice@hub"); err != nil {
			t.Fatal(err)
		}
		r.led.SetFail(errors.New("gpio gone"))
		if _, err := r.a.SetPrivacy(ctx, false, SourceLocal, "uid=0 pid=7"); err == nil {
			t.Fatal("privacy off with a dead LED succeeded")
		}
		synctest.Wait()
		wantLines(t, aud.summary(),
			"privacy|startup|restore|off||",
			"privacy|button|button|on||",
			"privacy|local|uid=1000 pid=42|off||",
			"privacy|hub|alice@hub|on||",
			"privacy|local|uid=0 pid=7|off||",
			"privacy|agent||on|led|recording LED: gpio gone",
			"fault|agent|||led|recording LED: gpio gone",
		)
	})
}

// TestAuditFaultsRaisedAndCleared: every fault raised and cleared is in the
// trail with its name, and so is every audio device seen.
func TestAuditFaultsRaisedAndCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		aud := &memAudit{}
		r := newRig(t, withAudit(aud))
		r.audio.Set("hw:1,0 USB mic")
		synctest.Wait()
		r.audio.Set("")
		synctest.Wait()
		got := aud.summary()
		wantLines(t, got,
			"fault|agent|||audio|audio device present: hw:1,0 USB mic",
			"fault_cleared|agent|||audio|audio device present: hw:1,0 USB mic",
		)
		if n := strings.Count(got, "fault|agent|||audio|"); n != 1 {
			t.Errorf("audio fault recorded %d times, want once:\n%s", n, got)
		}
	})
}

// TestWithFaultAuditsNoDuplicate: a fault step already records (the shutter
// that did not confirm closed) gets its name, not a second record; the
// records go before the status and the replies.
func TestWithFaultAuditsNoDuplicate(t *testing.T) {
	var prev, next [numFaults]string
	next[FaultShutter] = "shutter not confirmed closed within 2s"
	next[FaultCamera] = "camera lost"
	prev[FaultAudio] = "audio device present: x"
	acts := []Action{ActAudit{AuditRecord{Kind: KindFault, Source: SourceAgent, Reason: next[FaultShutter]}},
		ActPublish{}, ActReply{ID: 1}}
	got := withFaultAudits(prev, next, acts)
	want := []Action{
		ActAudit{AuditRecord{Kind: KindFault, Source: SourceAgent, Fault: "shutter", Reason: next[FaultShutter]}},
		ActAudit{AuditRecord{Kind: KindFaultCleared, Source: SourceAgent, Fault: "audio", Reason: "audio device present: x"}},
		ActAudit{AuditRecord{Kind: KindFault, Source: SourceAgent, Fault: "camera", Reason: "camera lost"}},
		ActPublish{}, ActReply{ID: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("withFaultAudits =\n%v\nwant\n%v", got, want)
	}
	// Raising the audit fault writes nothing: the trail is what failed.
	next = [numFaults]string{}
	next[FaultAudit] = "audit: no space left on device"
	if got := withFaultAudits([numFaults]string{}, next, nil); len(got) != 0 {
		t.Fatalf("audit fault raised: %v, want no record", got)
	}
}

func (a *FileAuditor) setWriteHook(h func([]byte) (int, error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writeHook = h
}

// TestAuditFullDiskNeverStopsPrivacy: with the audit file on a full disk
// (every write ENOSPC), privacy on still goes through to the end (capture
// stopped, shutter closed, LED off, the request answered); the audit fault
// is raised; once the disk has room the next record clears it, and the
// trail, without the records that could not be written, verifies.
func TestAuditFullDiskNeverStopsPrivacy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		fa, err := OpenAuditChain(path, ChainOptions{Node: "node-1"})
		if err != nil {
			t.Fatal(err)
		}
		defer fa.Close()
		r := newRig(t, withAudit(fa))
		if st := r.a.Status(); st.Privacy || !st.Recording {
			t.Fatalf("not live at start: %+v", st)
		}
		fa.setWriteHook(func([]byte) (int, error) { return 0, syscall.ENOSPC })
		st, err := r.a.SetPrivacy(context.Background(), true, SourceHub, "alice")
		if err != nil {
			t.Fatalf("privacy on with a full disk: %v", err)
		}
		if !st.Privacy || st.Recording || st.LED || st.Shutter != "closed" || st.Capture != "off" {
			t.Fatalf("privacy on with a full disk did not settle private: %+v", st)
		}
		synctest.Wait()
		if st = r.a.Status(); !strings.Contains(st.Faults["audit"], "no space left on device") {
			t.Fatalf("faults %v: no audit fault for a full disk", st.Faults)
		}
		if private, _, _ := LoadMode(r.state); !private {
			t.Fatal("privacy on not persisted")
		}
		fa.setWriteHook(nil)
		if _, err := r.a.SetPrivacy(context.Background(), false, SourceLocal, "uid=0"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if f := r.a.Status().Faults["audit"]; f != "" {
			t.Fatalf("audit fault %q stays after a record was written", f)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"kind":"fault_cleared","source":"agent","reason":"audit:`) ||
			!strings.Contains(string(data), `no space left on device","fault":"audit"`) {
			t.Fatalf("no fault_cleared record for the audit fault:\n%s", data)
		}
		if _, err := VerifyAudit(strings.NewReader(string(data)), VerifyOptions{}); err != nil {
			t.Fatalf("trail after a full disk: %v", err)
		}
	})
}

// TestControlAuditCheck: op audit_check over the control socket writes a
// check record with the actor the socket layer established.
func TestControlAuditCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		aud := &memAudit{}
		r := newRig(t, withAudit(aud))
		resp := r.a.handleControl(context.Background(), []byte(`{"op":"audit_check","check":"camnode check opens /dev/video0 to list its formats"}`), "local uid=0(root) pid=9")
		if !resp.OK {
			t.Fatalf("audit_check: %+v", resp)
		}
		wantLines(t, aud.summary(), "check|local|local uid=0(root) pid=9|||camnode check opens /dev/video0 to list its formats")
		aud.mu.Lock()
		aud.fail = errors.New("ENOSPC")
		aud.mu.Unlock()
		if resp := r.a.handleControl(context.Background(), []byte(`{"op":"audit_check","check":"x"}`), "local uid=0"); resp.OK || !strings.Contains(resp.Error, "not recorded") {
			t.Fatalf("audit_check with a full disk answered %+v; the check must not open the camera", resp)
		}
	})
}

// TestIngestCheckSpool: spooled check records go into the trail with this
// node's id; a line that is not a check record (junk, another kind: the
// spool cannot be used to forge privacy records) is not appended and a
// fault record says so; the spool is removed once done.
func TestIngestCheckSpool(t *testing.T) {
	dir := t.TempDir()
	rec := CheckAudit(SourceLocal, "uid=0 pid=1", "camnode check opens /dev/video0 to list its formats")
	rec.ID = "c1"
	if err := SpoolCheck(dir, rec); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, CheckSpoolFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("junk\n" + `{"id":"p1","time":"2026-12-01T00:00:00Z","node":"x","kind":"privacy","privacy":"off"}` + "\n")
	f.Close()
	aud := &memAudit{}
	n, err := IngestCheckSpool(dir, aud, "ward-3")
	if err != nil || n != 1 {
		t.Fatalf("IngestCheckSpool = %d, %v", n, err)
	}
	got := aud.records()
	if len(got) != 2 || got[0].ID != "c1" || got[0].Node != "ward-3" || got[0].Kind != KindCheck ||
		got[1].Kind != KindFault || !strings.Contains(got[1].Reason, "2 line(s)") {
		t.Fatalf("records %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckSpoolFile)); !os.IsNotExist(err) {
		t.Fatalf("spool left: %v", err)
	}
	if n, err := IngestCheckSpool(dir, aud, "ward-3"); n != 0 || err != nil {
		t.Fatalf("no spool: %d, %v", n, err)
	}
}
