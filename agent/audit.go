// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// AuditRecord is one entry of the audit trail: who changed privacy and how,
// what was refused and why, faults. The agent fills Kind..Reason; the loop
// stamps ID, Time and Node.
type AuditRecord struct {
	ID string `json:"id"`
	// Seq and Prev chain the trail (docs/audit.md): Seq counts records
	// from 1, never reused; Prev is the hex SHA-256 of the previous
	// record's line exactly as written (without its newline), or of the
	// identity's signed payload for seq 1. The chain auditor stamps them.
	Seq     uint64    `json:"seq,omitempty"`
	Prev    string    `json:"prev,omitempty"`
	Time    time.Time `json:"time"`
	Node    string    `json:"node"`
	Kind    string    `json:"kind"` // one of the Kind* constants (docs/audit.md, "Record kinds")
	Source  Source    `json:"source,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Privacy string    `json:"privacy,omitempty"` // requested mode: on/off
	Reason  string    `json:"reason,omitempty"`
	// Fault names the fault (Fault.String) of a "fault" or "fault_cleared"
	// record, and of a "privacy" record the agent wrote after a fault.
	Fault string `json:"fault,omitempty"`
	// View describes a viewer or recorder session (Kind "view_start" or
	// "recording_start" when it starts, "view" or "recording" when it
	// ends, both with the same View.Session; Actor is the viewer or
	// recorder and Reason, of an end, why the session ended). Build them
	// with SessionStartAudit and SessionAudit.
	View *SessionRecord `json:"view,omitempty"`
	// Life describes the node's life: boots, stops, crashes, identity and
	// configuration changes, the clock (auditlife.go).
	Life *LifeRecord `json:"life,omitempty"`
	// Checkpoint is the signed chain head (Kind "checkpoint").
	Checkpoint *AuditCheckpoint `json:"checkpoint,omitempty"`
}

// Record kinds (docs/audit.md has the table).
const (
	KindPrivacy        = "privacy"         // privacy on or off, from any source
	KindRefusal        = "refusal"         // a request the rules refused
	KindFault          = "fault"           // a fault raised (or its detail changed)
	KindFaultCleared   = "fault_cleared"   // a fault cleared
	KindView           = "view"            // a live-view session ended
	KindRecording      = "recording"       // a recorder session ended
	KindViewStart      = "view_start"      // a live-view session starts (before its first frame)
	KindRecordingStart = "recording_start" // a recorder or push session starts (before its first frame)
	KindBoot           = "boot"            // the agent started
	KindStop           = "stop"            // the agent stopped cleanly
	KindCrash          = "crash"           // the previous run did not stop cleanly
	KindIdentity       = "identity_change"
	KindConfig         = "config_change"
	KindClock          = "clock" // a clock jump or a change of the clock's sync state
	KindCheck          = "check" // camnode check opened the camera
)

// SessionRecord is what the audit trail keeps of one viewer or recorder
// session: one shape for both, so a verifier and the hub read them alike.
type SessionRecord struct {
	Session string    `json:"session"`
	Role    string    `json:"role"`
	Purpose string    `json:"purpose"`
	Remote  string    `json:"remote"` // viewer's address
	Start   time.Time `json:"start"`
	// End and Ended are absent from a start record (the session has not
	// ended) and present in an end record (CheckSession).
	End    time.Time `json:"end,omitzero"`
	Frames uint64    `json:"frames"` // frames sent to this viewer (0 in a start record)
	// Bytes sent on the session's connection (recorder sessions).
	Bytes uint64 `json:"bytes,omitempty"`
	Ended string `json:"ended,omitempty"` // why the session ended
}

// StartKind is the kind of the start record of a session whose end record
// has kind (KindView or KindRecording), or "" for any other kind.
func StartKind(kind string) string {
	switch kind {
	case KindView:
		return KindViewStart
	case KindRecording:
		return KindRecordingStart
	}
	return ""
}

// SessionStartAudit is the audit record of a session that starts: kind is
// the kind its end record will have (KindView or KindRecording; the
// record's kind is StartKind(kind)), actor the credential's subject, and
// s.Session the id the end record (SessionAudit) carries, so that a
// verifier pairs them. It must be recorded, durably, before the session's
// first frame is sent; a session whose start record cannot be recorded is
// refused (UnauditedSession says why). A start without an end means the
// node stopped during the session without ending it: a crash (the next
// boot's "crash" record) or a trail that ends there. Live view, the
// recorder and push all build theirs here.
func SessionStartAudit(kind string, source Source, actor string, s SessionRecord) AuditRecord {
	s.Start = s.Start.UTC()
	s.End, s.Frames, s.Bytes, s.Ended = time.Time{}, 0, 0, ""
	return AuditRecord{Kind: StartKind(kind), Source: source, Actor: actor, View: &s}
}

// UnauditedSession is the reason a session is refused when its start
// record cannot be recorded: no session goes unaudited.
func UnauditedSession(err error) string {
	return "session refused: the audit trail cannot record it (" + err.Error() + ")"
}

// CheckSession returns why the session part of r is malformed, or nil: a
// start record (view_start, recording_start) has a View without end and
// ended; an end record (view, recording) has a View with both; other
// kinds have no View.
func (r AuditRecord) CheckSession() error {
	v := r.View
	switch r.Kind {
	case KindViewStart, KindRecordingStart:
		switch {
		case v == nil:
			return fmt.Errorf("%s record without its view", r.Kind)
		case !v.End.IsZero() || v.Ended != "":
			return fmt.Errorf("%s record has an end", r.Kind)
		}
	case KindView, KindRecording:
		switch {
		case v == nil:
			return fmt.Errorf("%s record without its view", r.Kind)
		case v.End.IsZero() || v.Ended == "":
			return fmt.Errorf("%s record without end and ended", r.Kind)
		}
	default:
		if v != nil {
			return fmt.Errorf("a %q record carries a view", r.Kind)
		}
	}
	return nil
}

// SessionAudit is the audit record of a session that ended: kind is
// KindView or KindRecording, actor the credential's subject, why the
// reason it ended. Live view and the recorder both build theirs here.
func SessionAudit(kind string, source Source, actor, why string, s SessionRecord) AuditRecord {
	s.Ended = why
	s.Start, s.End = s.Start.UTC(), s.End.UTC()
	return AuditRecord{Kind: kind, Source: source, Actor: actor, Reason: why, View: &s}
}

// Auditor stores audit records durably. Append returns only once the record
// is recorded (e.g. fsynced); an error means it is not.
type Auditor interface {
	Append(AuditRecord) error
}

// NewAuditID returns a random 128-bit id so that a hub can drop duplicates.
func NewAuditID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// Record writes an audit record from outside the owner loop (for example a
// live-view session that ended). It stamps ID, Time and Node and returns
// once the auditor has recorded it. Safe from any goroutine.
func (a *Agent) Record(rec AuditRecord) error {
	rec.ID = NewAuditID()
	rec.Time = a.now()
	rec.Node = a.cfg.Identity.NodeID
	a.log.Info("audit", "kind", rec.Kind, "source", rec.Source, "actor", rec.Actor, "reason", rec.Reason)
	if a.deps.Audit == nil {
		return nil
	}
	return a.deps.Audit.Append(rec)
}

// AuditQueue writes session records on their own goroutines, so that an
// output ending sessions inside a privacy cut never waits for the disk, and
// lets the output's Close wait for every record started before it. A record
// asked for after Close is written inline (a late library callback), so no
// record is lost and WaitGroup.Add never races Wait. The zero value is ready.
type AuditQueue struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	closed bool
}

// Go runs write (which records one audit record) on its own goroutine, or
// inline after Close.
func (q *AuditQueue) Go(write func()) {
	q.mu.Lock()
	late := q.closed
	if !late {
		q.wg.Add(1)
	}
	q.mu.Unlock()
	if late {
		write()
		return
	}
	go func() {
		defer q.wg.Done()
		write()
	}()
}

// Close waits for every record started before it.
func (q *AuditQueue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wg.Wait()
}

// Wait waits for the records started so far, without closing the queue
// (tests use it once the sessions they watch have ended).
func (q *AuditQueue) Wait() { q.wg.Wait() }
