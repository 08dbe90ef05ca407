// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"crypto/rand"
	"encoding/hex"
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
	Kind    string    `json:"kind"` // privacy, refusal, fault, view, record
	Source  Source    `json:"source,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Privacy string    `json:"privacy,omitempty"` // requested mode: on/off
	Reason  string    `json:"reason,omitempty"`
	// View describes a live-view session (Kind "view"; Actor is the
	// viewer and Reason why the session ended) or a recorder-stream
	// session (Kind "record"; Actor is the recorder's configured name,
	// Role "recorder").
	View *ViewRecord `json:"view,omitempty"`
	// Checkpoint is the signed chain head (Kind "checkpoint").
	Checkpoint *AuditCheckpoint `json:"checkpoint,omitempty"`
}

// ViewRecord is what the audit trail keeps of one live-view session.
type ViewRecord struct {
	Session string    `json:"session"`
	Role    string    `json:"role"`
	Purpose string    `json:"purpose"`
	Remote  string    `json:"remote"` // viewer's address
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Frames  uint64    `json:"frames"` // frames sent to this viewer
	// Bytes sent on the session's connection (recorder sessions).
	Bytes uint64 `json:"bytes,omitempty"`
	Ended string `json:"ended"` // why the session ended
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
