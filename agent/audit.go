// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/camnode/camnode/firmware"
)

// AuditRecord is one entry of the audit trail: who changed privacy and how,
// what was refused and why, faults. The agent fills Kind..Reason; the loop
// stamps ID, Time and Node.
type AuditRecord struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Node    string    `json:"node"`
	Kind    string    `json:"kind"` // privacy, refusal, fault, view
	Source  Source    `json:"source,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Privacy string    `json:"privacy,omitempty"` // requested mode: on/off
	Reason  string    `json:"reason,omitempty"`
	// View describes a live-view session (Kind "view"; Actor is the
	// viewer and Reason why the session ended).
	View *ViewRecord `json:"view,omitempty"`
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
	Ended   string    `json:"ended"`  // why the session ended
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

// FileAuditor appends JSON lines to a file and fsyncs each one.
type FileAuditor struct {
	mu sync.Mutex // guards f
	f  *os.File
}

// OpenFileAuditor opens (creating) an append-only audit file. It must be a
// regular file: a FIFO would block the open (and boot), a device such as
// /dev/null would swallow the trail.
func OpenFileAuditor(path string) (*FileAuditor, error) {
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit: %s: %w", path, firmware.ErrNotRegular)
	}
	// O_NONBLOCK: a FIFO swapped in after the check cannot block the open.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("audit: %s: %w", path, firmware.ErrNotRegular)
	}
	return &FileAuditor{f: f}, nil
}

// Append writes rec and fsyncs.
func (a *FileAuditor) Append(rec AuditRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Close closes the file.
func (a *FileAuditor) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
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
