// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/firmware"
)

// LifeFile is the state file (in the node's state directory) that carries
// the facts of the last run from one start to the next: whether it is still
// running (a crash leaves it so) and the hashes of the identity and the
// configuration it started with.
const LifeFile = "audit-life.json"

// LifeRecord describes the node's life in an audit record: boots, stops,
// crashes, identity and configuration changes, the clock.
type LifeRecord struct {
	Version string `json:"version,omitempty"`
	// BootID is the kernel's boot id (/proc/sys/kernel/random/boot_id):
	// a different one after a crash means the node rebooted or lost power.
	BootID string `json:"boot_id,omitempty"`
	PID    int    `json:"pid,omitempty"`
	// Identity and Config are the hex SHA-256 of the identity file and of
	// the effective configuration; Previous is the one the last start saw
	// (identity_change, config_change).
	Identity string `json:"identity,omitempty"`
	Config   string `json:"config,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Started is when the run a crash record is about began.
	Started time.Time `json:"started,omitzero"`
	// ClockSync is the clock's sync state: synchronized, unsynchronized
	// or unknown.
	ClockSync string `json:"clock_sync,omitempty"`
	// Jump is how far the wall clock moved against the monotonic clock
	// (kind "clock"), e.g. "+1h0m0s".
	Jump string `json:"jump,omitempty"`
}

// lifeState is LifeFile's content.
type lifeState struct {
	Running  bool      `json:"running"`
	Started  time.Time `json:"started"`
	PID      int       `json:"pid"`
	BootID   string    `json:"boot_id"`
	Identity string    `json:"identity"`
	Config   string    `json:"config"`
}

// LifeFacts are what the node knows about itself at start.
type LifeFacts struct {
	Version string
	BootID  string
	PID     int
	// Identity is the identity file's content (nil: missing/unreadable);
	// Config the effective configuration, any stable encoding.
	Identity, Config []byte
	ClockSync        string
}

// HashOf is the hex SHA-256 of b, "" for nil (absent).
func HashOf(b []byte) string {
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Life records the node's boots, clean stops and crashes (docs/audit.md).
type Life struct {
	path  string
	aud   Auditor
	node  string
	now   func() time.Time
	state lifeState

	mu      sync.Mutex
	stopped bool
}

// StartLife is called once at start, after the audit chain is open. It
// records a crash when the last run never stopped cleanly (LifeFile still
// says running, or cannot be read), an identity_change or config_change
// when their hashes differ from the last start's, then the boot, and
// marks the node running. A record that cannot be written is returned as
// an error after the rest was tried (the caller raises the audit fault; the
// node runs on).
func StartLife(stateDir string, f LifeFacts, aud Auditor, node string, now func() time.Time) (*Life, error) {
	if now == nil {
		now = time.Now
	}
	l := &Life{path: filepath.Join(stateDir, LifeFile), aud: aud, node: node, now: now}
	l.state = lifeState{Running: true, Started: now().UTC(), PID: f.PID, BootID: f.BootID,
		Identity: HashOf(f.Identity), Config: HashOf(f.Config)}
	var errs []error
	rec := func(kind, reason string, life LifeRecord) {
		errs = append(errs, l.append(AuditRecord{Kind: kind, Source: SourceAgent, Reason: reason, Life: &life}))
	}
	prev, found, err := readLife(l.path)
	switch {
	case err != nil:
		rec(KindCrash, fmt.Sprintf("the state of the last run is unreadable (%v): an unclean stop cannot be ruled out", err), LifeRecord{})
		found = false
	case found && prev.Running:
		why := fmt.Sprintf("the previous run (pid %d, started %s) did not stop cleanly", prev.PID, prev.Started.Format(time.RFC3339))
		if prev.BootID != "" && f.BootID != "" && prev.BootID != f.BootID {
			why += "; the node rebooted since (power loss, kernel crash or watchdog reset)"
		}
		rec(KindCrash, why, LifeRecord{PID: prev.PID, BootID: prev.BootID, Started: prev.Started})
	}
	if found {
		if prev.Identity != l.state.Identity {
			rec(KindIdentity, "the identity file differs from the one seen at the last start",
				LifeRecord{Identity: l.state.Identity, Previous: prev.Identity})
		}
		if prev.Config != l.state.Config {
			rec(KindConfig, "the configuration differs from the one seen at the last start",
				LifeRecord{Config: l.state.Config, Previous: prev.Config})
		}
	}
	rec(KindBoot, "agent started", LifeRecord{Version: f.Version, BootID: f.BootID, PID: f.PID,
		Identity: l.state.Identity, Config: l.state.Config, ClockSync: f.ClockSync})
	if err := l.save(); err != nil {
		errs = append(errs, err)
	}
	return l, errors.Join(errs...)
}

// Stop records a clean stop and marks the node stopped: the next start
// records no crash. Only the first call does anything.
func (l *Life) Stop(reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil
	}
	l.stopped = true
	err := l.append(AuditRecord{Kind: KindStop, Source: SourceAgent, Reason: reason,
		Life: &LifeRecord{PID: l.state.PID, BootID: l.state.BootID, Started: l.state.Started}})
	if err != nil {
		// Not recorded: leave the marker, so the next start says the stop
		// was not clean rather than lose it silently.
		return err
	}
	l.state.Running = false
	return l.save()
}

func (l *Life) append(rec AuditRecord) error {
	rec.ID, rec.Time, rec.Node = NewAuditID(), l.now(), l.node
	if l.aud == nil {
		return nil
	}
	return l.aud.Append(rec)
}

func (l *Life) save() error {
	b, _ := json.Marshal(l.state)
	if err := WriteFileAtomic(l.path, b, 0o600); err != nil {
		return fmt.Errorf("audit life state: %w", err)
	}
	return nil
}

// readLife reads LifeFile: found false when there is none.
func readLife(path string) (lifeState, bool, error) {
	var st lifeState
	data, err := firmware.ReadFile(path, firmware.MaxStateFileSize)
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err == nil {
		err = firmware.DecodeJSON(data, &st)
	}
	if err != nil {
		return lifeState{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return st, true, nil
}

// BootID reads the kernel's boot id ("" when unavailable).
func BootID() string {
	b, err := firmware.ReadFile("/proc/sys/kernel/random/boot_id", 64)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
