// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware"
)

// TestSessionStartAudit: the start and end records of a session share one
// shape and session id; the start has no end, and CheckSession tells each
// kind's shape.
func TestSessionStartAudit(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	s := SessionRecord{Session: "s1", Role: "staff", Purpose: "fall check", Remote: "10.0.0.9:5000", Start: at,
		End: at.Add(time.Minute), Frames: 9, Bytes: 9, Ended: "stale"}
	for kind, start := range map[string]string{KindView: KindViewStart, KindRecording: KindRecordingStart} {
		st := SessionStartAudit(kind, "liveview", "alice", s)
		end := SessionAudit(kind, "liveview", "alice", "viewer hung up", s)
		if st.Kind != start || st.Actor != "alice" || st.Reason != "" || st.View == nil || st.View.Session != "s1" ||
			!st.View.End.IsZero() || st.View.Frames != 0 || st.View.Bytes != 0 || st.View.Ended != "" ||
			st.View.Start != at.UTC() || st.View.Role != "staff" || st.View.Purpose != "fall check" || st.View.Remote != s.Remote {
			t.Errorf("start record %+v %+v", st, st.View)
		}
		if end.View.Session != st.View.Session || !end.View.Start.Equal(st.View.Start) {
			t.Errorf("end %+v does not pair with start %+v", end.View, st.View)
		}
		for _, r := range []AuditRecord{st, end} {
			if err := r.CheckSession(); err != nil {
				t.Errorf("%s: %v", r.Kind, err)
			}
		}
		bad := st
		v := *st.View
		v.Ended = "x"
		bad.View = &v
		if bad.CheckSession() == nil {
			t.Errorf("%s with ended accepted", start)
		}
	}
	if StartKind(KindPrivacy) != "" {
		t.Error("privacy has a start kind")
	}
	if (AuditRecord{Kind: KindPrivacy, View: &SessionRecord{}}).CheckSession() == nil {
		t.Error("a privacy record with a view accepted")
	}
	if (AuditRecord{Kind: KindView}).CheckSession() == nil {
		t.Error("a view record without its view accepted")
	}
}

// TestVerifyPairsSessions: the verifier pairs each session's start with
// its end; a start without an end is a warning that says why: the crash
// that followed, or a trail that ends during the session.
func TestVerifyPairsSessions(t *testing.T) {
	installer, key := seedKey(1), seedKey(2)
	identity := signedIdentity(t, "ward-3", installer, key)
	anchor, err := firmware.IdentityAnchor(identity)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	now := fixtureTime
	clock := func() time.Time { now = now.Add(time.Second); return now }
	a, err := OpenAuditChain(path, ChainOptions{Anchor: anchor, Node: "ward-3", Key: key, CheckpointEvery: 3, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	sess := func(id string) SessionRecord {
		return SessionRecord{Session: id, Role: "staff", Purpose: "p", Remote: "r", Start: now, End: now.Add(time.Second)}
	}
	for _, r := range []AuditRecord{
		SessionStartAudit(KindView, "liveview", "alice", sess("watched")),
		SessionAudit(KindView, "liveview", "alice", "viewer hung up", sess("watched")),
		SessionStartAudit(KindRecording, "recorder", "nvr", sess("cut-short")),
		SessionStartAudit(KindRecording, "push", "hub", sess("pushed")),
		SessionAudit(KindRecording, "push", "hub", "privacy", sess("pushed")),
		{Kind: KindCrash, Source: SourceAgent, Reason: "the last run did not stop", Life: &LifeRecord{}},
		{Kind: KindBoot, Source: SourceAgent, Reason: "agent started", Life: &LifeRecord{}},
		SessionStartAudit(KindView, "liveview", "bob", sess("open")),
	} {
		r.ID, r.Time, r.Node = NewAuditID(), clock(), "ward-3"
		if err := a.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lines := fileLines(t, path)
	rep, err := VerifyAudit(bytes.NewReader(join(lines)), VerifyOptions{Identity: identity,
		InstallerKeys: []ed25519.PublicKey{installer.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sessions != 4 || rep.Unended != 2 {
		t.Fatalf("sessions %d, unended %d; want 4, 2 (warnings %q)", rep.Sessions, rep.Unended, rep.Warning)
	}
	var crashSeq uint64
	for _, l := range lines {
		if r := decodeLine(t, l); r.Kind == KindCrash {
			crashSeq = r.Seq
		}
	}
	w := strings.Join(rep.Warning, "\n")
	for _, want := range []string{
		`session cut-short (recording_start of "nvr", seq 3) has no end record: the node crashed during it (crash record seq ` + strconv.FormatUint(crashSeq, 10) + `)`,
		`session open (view_start of "bob", seq `,
		"the trail ends during it",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q, want %q", rep.Warning, want)
		}
	}
	if strings.Contains(w, "watched") || strings.Contains(w, "pushed") {
		t.Errorf("a paired session is reported: %q", rep.Warning)
	}
}
