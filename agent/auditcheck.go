// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/camnode/camnode/firmware"
)

// `camnode check` opens the camera (to list its formats) outside the
// agent. Each such run is recorded (kind "check") before the camera is
// opened: through the running agent's control socket (op "audit_check",
// the actor from the kernel), or, with no agent running, in a spool file
// the agent moves into the chain at its next start (IngestCheckSpool).

// CheckSpoolFile is the spool of check records written while no agent ran.
const CheckSpoolFile = "audit-check-spool.jsonl"

// maxCheckDetail bounds what a check record says it did.
const maxCheckDetail = 256

func checkCheckDetail(s string) error {
	switch {
	case s == "":
		return errors.New(`"check" is empty`)
	case len(s) > maxCheckDetail:
		return fmt.Errorf(`"check" is %d bytes; at most %d`, len(s), maxCheckDetail)
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return errors.New(`"check" has a control character`)
	}
	return nil
}

// CheckAudit is the record of a `camnode check` run that opens the camera.
func CheckAudit(source Source, actor, detail string) AuditRecord {
	return AuditRecord{Kind: KindCheck, Source: source, Actor: actor, Reason: detail}
}

// SpoolCheck appends rec (stamped with id, time and node) to the spool in
// stateDir, durably, for the agent's next start. When run as root it
// gives the file to the state directory's owner, so the agent can remove it.
func SpoolCheck(stateDir string, rec AuditRecord) error {
	if err := checkCheckDetail(rec.Reason); err != nil {
		return err
	}
	// The agent may never have run (systemd gives it the directory at its
	// first start).
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(stateDir, CheckSpoolFile)
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", path, firmware.ErrNotRegular)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := os.Stat(stateDir); err == nil && os.Geteuid() == 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			if err := f.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
				return err
			}
		}
	}
	if _, err := f.Write(line); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	syncDir(stateDir)
	return nil
}

// IngestCheckSpool appends the spooled check records to the trail (aud)
// and removes the spool. Each record keeps its id and time; the node is
// this node's. A line that is not a check record is not appended: a
// fault record says so. Called at start, before the boot record.
func IngestCheckSpool(stateDir string, aud Auditor, node string) (int, error) {
	path := filepath.Join(stateDir, CheckSpoolFile)
	data, err := firmware.ReadFile(path, firmware.MaxJSONSize)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, bad := 0, 0
	for line := range bytes.Lines(data) {
		var r AuditRecord
		if err := firmware.DecodeJSON(bytes.TrimSuffix(line, []byte{'\n'}), &r); err != nil ||
			r.Kind != KindCheck || r.ID == "" || checkCheckDetail(r.Reason) != nil {
			bad++
			continue
		}
		r.Node, r.Seq, r.Prev = node, 0, ""
		if err := aud.Append(r); err != nil {
			return n, err // the spool stays: nothing is lost
		}
		n++
	}
	if bad > 0 {
		if err := aud.Append(AuditRecord{ID: NewAuditID(), Time: time.Now(), Node: node, Kind: KindFault, Source: SourceAgent,
			Fault: "audit", Reason: fmt.Sprintf("%d line(s) of %s are not check records: not recorded", bad, CheckSpoolFile)}); err != nil {
			return n, err
		}
	}
	return n, os.Remove(path)
}
