// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/agent"
)

// TestAuditVerifyRotatedSet: camctl audit verify DIR and audit export
// -state read a rotated trail (audit-<seq>.jsonl files, then audit.jsonl)
// as one chain; a rotated file removed from the middle is a sequence gap
// naming the files.
func TestAuditVerifyRotatedSet(t *testing.T) {
	state, _ := nodeStateDirRotating(t, 2000)
	names, err := agent.AuditFiles(state)
	if err != nil || len(names) < 3 {
		t.Fatalf("rotated set %v %v: want at least 3 files", names, err)
	}
	msg, err := camctl(t.Context(), "audit", "verify", state)
	if err != nil || !strings.Contains(msg, "VERIFIED: audit trail of node ward-3: seq 1 to 53") {
		t.Fatalf("verify rotated state dir: %v\n%s", err, msg)
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	if msg, err := camctl(t.Context(), "audit", "export", "-state", state, "-o", out); err != nil || !strings.Contains(msg, "seq 1 to 53") {
		t.Fatalf("export of a rotated state dir: %v\n%s", err, msg)
	}
	if err := os.Remove(names[1]); err != nil {
		t.Fatal(err)
	}
	msg, err = camctl(t.Context(), "audit", "verify", state)
	if err == nil || !strings.Contains(msg, "sequence gap") || !strings.Contains(msg, filepath.Base(names[0])) {
		t.Fatalf("verify with a rotated file removed: %v\n%s", err, msg)
	}
}
