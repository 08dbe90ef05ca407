// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// nodeStateDir is a node's state directory after a day of records: the
// chain written by the agent's auditor, the identity and installer keys
// next to it (as on the node's boot partition).
func nodeStateDir(t *testing.T) (dir string, day time.Time) {
	t.Helper()
	return nodeStateDirRotating(t, 0)
}

// nodeStateDirRotating is nodeStateDir with the trail rotated every
// rotateSize bytes (0: never).
func nodeStateDirRotating(t *testing.T, rotateSize int64) (dir string, day time.Time) {
	t.Helper()
	installer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	auditKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	day = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	id := firmware.Identity{NodeID: "ward-3", Site: "Practice", Room: "Waiting room", ZoneClass: "reception",
		Installer: "test", IssuedAt: day, AuditKey: base64.StdEncoding.EncodeToString(auditKey.Public().(ed25519.PublicKey))}
	idFile, err := firmware.SignIdentity(id, installer)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	writeFile(t, dir, bundleIdentity, string(idFile))
	writeFile(t, dir, bundleKeys, firmware.FormatKey(installer.Public().(ed25519.PublicKey), "installer"))
	anchor, _ := firmware.IdentityAnchor(idFile)
	now := day
	clock := func() time.Time { return now }
	a, err := agent.OpenAuditChain(filepath.Join(dir, bundleAudit), agent.ChainOptions{Anchor: anchor, Node: "ward-3",
		Key: auditKey, CheckpointEvery: 10, Now: clock, RotateSize: rotateSize})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 48 { // one record every half hour
		now = day.Add(time.Duration(i) * 30 * time.Minute)
		if err := a.Append(agent.AuditRecord{ID: fmt.Sprintf("r%d", i), Time: now, Node: "ward-3", Kind: "privacy", Source: agent.SourceButton, Privacy: "on"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, day
}

// TestAuditExportVerify: a bundle exported from a node's state directory
// verifies on its own (tar and directory, whole trail and a time range);
// a changed byte in it does not, and names the record.
func TestAuditExportVerify(t *testing.T) {
	state, day := nodeStateDir(t)
	out := t.TempDir()
	if msg, err := camctl(t.Context(), "audit", "verify", state); err != nil || !strings.Contains(msg, "VERIFIED: audit trail of node ward-3: seq 1 to 53") {
		t.Fatalf("verify state dir: %v\n%s", err, msg)
	}
	whole := filepath.Join(out, "whole.tar")
	if msg, err := camctl(t.Context(), "audit", "export", "-state", state, "-o", whole); err != nil || !strings.Contains(msg, "VERIFIED") {
		t.Fatalf("export: %v\n%s", err, msg)
	}
	// The recipient's machine: only the bundle.
	if msg, err := camctl(t.Context(), "audit", "verify", whole); err != nil || !strings.Contains(msg, "signed by the node's audit key up to seq 53") {
		t.Fatalf("verify bundle: %v\n%s", err, msg)
	}
	// 10:00 to 12:00: records r20-r24 (seq 23-27), extended to the
	// checkpoint at seq 33; a partial trail.
	ranged := filepath.Join(out, "ranged")
	msg, err := camctl(t.Context(), "audit", "export", "-state", state, "-from", day.Add(10*time.Hour).Format(time.RFC3339),
		"-to", day.Add(12*time.Hour).Format(time.RFC3339), "-o", ranged)
	if err != nil || !strings.Contains(msg, "seq 23 to 33") || !strings.Contains(msg, "partial trail: starts at seq 23") {
		t.Fatalf("ranged export: %v\n%s", err, msg)
	}
	for _, name := range []string{bundleReadme, bundleManifest, bundleIdentity, bundleKeys, bundleAudit} {
		if _, err := os.Stat(filepath.Join(ranged, name)); err != nil {
			t.Fatalf("bundle lacks %s", name)
		}
	}
	// Tamper with the ranged bundle: one changed byte of one record.
	p := filepath.Join(ranged, bundleAudit)
	b, _ := os.ReadFile(p)
	b = bytes.Replace(b, []byte(`"id":"r24"`), []byte(`"id":"r99"`), 1)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	msg, err = camctl(t.Context(), "audit", "verify", ranged)
	if exitCode(err) != 1 || !strings.Contains(msg, "NOT VERIFIED") || !strings.Contains(msg, "(seq 28): prev does not match the hash of the record before it (seq 27") ||
		!strings.Contains(msg, "confirmed by the chain: seq 23 to 26; from seq 27 on, nothing is") {
		t.Fatalf("tampered bundle: %v\n%s", err, msg)
	}
	// Trusting another installer key: the identity is refused.
	other := writeFile(t, t.TempDir(), "other.pub", firmware.FormatKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey), "x"))
	if msg, err := camctl(t.Context(), "audit", "verify", "-installer-keys", other, whole); exitCode(err) != 1 || !strings.Contains(msg, "not pinned") {
		t.Fatalf("other installer key: %v\n%s", err, msg)
	}
	// Never overwrite an existing output.
	if msg, err := camctl(t.Context(), "audit", "export", "-state", state, "-o", whole); exitCode(err) != 1 || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("export over an existing bundle: %v\n%s", err, msg)
	}
}

func TestAuditVerifyBadInput(t *testing.T) {
	state, _ := nodeStateDir(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"audit", "verify"}, "usage"},
		{"missing file", []string{"audit", "verify", filepath.Join(dir, "none")}, "no such file"},
		{"no identity", []string{"audit", "verify", filepath.Join(state, bundleAudit)}, "no identity"},
		{"bad witness", []string{"audit", "verify", "-witness", "3:xyz", state}, "-witness"},
		{"tar with an extra entry", []string{"audit", "verify", writeFile(t, dir, "x.tar", "not a tar")}, "x.tar"},
		{"export without -o", []string{"audit", "export", "-state", state}, "-o: required"},
		{"export with both sources", []string{"audit", "export", "-state", state, "-file", "x", "-o", filepath.Join(dir, "o")}, "one of -state"},
		{"export bad date", []string{"audit", "export", "-state", state, "-from", "yesterday", "-o", filepath.Join(dir, "o")}, "-from"},
		{"export empty range", []string{"audit", "export", "-state", state, "-from", "2030-01-01", "-o", filepath.Join(dir, "o")}, "no record in the range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := camctl(t.Context(), tc.args...)
			if err == nil {
				t.Fatalf("succeeded: %s", msg)
			}
			if !strings.Contains(msg+err.Error(), tc.want) {
				t.Fatalf("err %v %s, want %q", err, msg, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "o")); err == nil {
		t.Fatal("a failed export wrote its output")
	}
}

// TestAuditVerifyWitness: a trail rewritten and re-signed with the node's
// own key verifies alone, but not against the head the hub witnessed.
func TestAuditVerifyWitness(t *testing.T) {
	state, _ := nodeStateDir(t)
	p := filepath.Join(state, bundleAudit)
	orig, _ := os.ReadFile(p)
	lines := bytes.Split(bytes.TrimSuffix(orig, []byte{'\n'}), []byte{'\n'})
	witness := fmt.Sprintf("%d:%s", 20, agent.LineHash(lines[19]))
	if msg, err := camctl(t.Context(), "audit", "verify", "-witness", witness, state); err != nil {
		t.Fatalf("witnessed original: %v\n%s", err, msg)
	}
	// Truncated to seq 12: the hub saw seq 20.
	if err := os.WriteFile(p, bytes.Join(append(lines[:12], nil), []byte{'\n'}), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := camctl(t.Context(), "audit", "verify", "-witness", witness, state); exitCode(err) != 1 || !strings.Contains(msg, "the hub witnessed seq 20") {
		t.Fatalf("truncated: %v\n%s", err, msg)
	}
	// The same head from the file camctl audit -witness-file keeps.
	wf := writeFile(t, t.TempDir(), "witness.json", fmt.Sprintf(`{"seq":20,"hash":%q}`, agent.LineHash(lines[19])))
	if msg, err := camctl(t.Context(), "audit", "verify", "-witness-file", wf, state); exitCode(err) != 1 || !strings.Contains(msg, "the hub witnessed seq 20") {
		t.Fatalf("truncated, -witness-file: %v\n%s", err, msg)
	}
}
