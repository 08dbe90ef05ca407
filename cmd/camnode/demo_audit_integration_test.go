// SPDX-License-Identifier: Apache-2.0

//go:build integration

package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// TestDemoAuditExport is issue 12's "done when": a bundle exported from a
// node that ran the demo for a while verifies on a clean machine. The demo
// runs with -keep; its privacy button is pressed and the simulated
// microphone plugged in and out; the printed camctl audit export command
// (run with a camctl built here) writes the bundle; only the bundle is
// copied into an empty directory, where the printed verify command says
// VERIFIED, signed by the node's audit key, under the demo's installer key,
// and the bundle holds the records caused. One changed byte makes it NOT
// VERIFIED naming the record. After quitting, the kept trail exports again
// with the first bundle's records unchanged, then the stop record and a
// final checkpoint.
func TestDemoAuditExport(t *testing.T) {
	camctlBin := filepath.Join(t.TempDir(), "camctl")
	if out, err := exec.Command("go", "build", "-o", camctlBin, "github.com/camnode/camnode/cmd/camctl").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/camctl: %v\n%s", err, out)
	}
	d := startDemo(t, "-keep", "-mqtt=false", "-liveview=", "-size=160x120", "-fps=15")
	out := d.out
	at := out.waitFor(t, 0, "  quit:")
	dir := demoDir(t, out.String())
	t.Cleanup(func() { os.RemoveAll(dir) })
	if !strings.Contains(out.String(), "(-keep: "+dir+" stays, to export after quitting)") {
		t.Errorf("-keep: the quit line does not say the directory stays:\n%s", out.String())
	}
	streaming := "privacy OFF | LED ● REC | shutter open    | camera streaming"
	at = out.waitFor(t, at, streaming)

	const presses = 4
	for i := range presses {
		d.typeKey("p")
		at = out.waitFor(t, at, "demo: privacy button: privacy "+onOffWord(i%2 == 0))
	}
	d.typeKey("a")
	at = out.waitFor(t, at, "faults: audio: audio device present")
	d.typeKey("a")
	at = out.waitFor(t, at, streaming)
	// The fault records are queued: wait until the node has written them.
	trail := filepath.Join(dir, "state", "audit.jsonl")
	waitTrail(t, trail, func(kinds map[string]int) bool {
		return kinds[agent.KindFault] > 0 && kinds[agent.KindFaultCleared] > 0
	})

	export, verify := demoAuditLines(t, out.String())
	first := exportAndVerify(t, camctlBin, export, verify)
	kinds := map[string]int{}
	button := 0
	var modified *agent.AuditRecord
	modLine := 0
	for i, r := range first.records {
		kinds[r.Kind]++
		if r.Kind == agent.KindPrivacy && r.Source == agent.SourceButton {
			if button++; button == 2 {
				modified, modLine = &first.records[i], i+1
			}
		}
		if (r.Kind == agent.KindFault || r.Kind == agent.KindFaultCleared) && r.Fault == "audio" {
			kinds[r.Kind+" audio"]++
		}
	}
	if kinds[agent.KindBoot] != 1 || button != presses || kinds["fault audio"] == 0 || kinds["fault_cleared audio"] == 0 || kinds[agent.KindCheckpoint] == 0 {
		t.Errorf("record kinds in the bundle %v, %d button privacy records; want a boot, %d button privacy changes, "+
			"an audio fault and its clearing, a checkpoint", kinds, button, presses)
	}

	// One byte changed in the bundle: the verifier names the record.
	tampered := bytes.Clone(first.tar)
	i := bytes.Index(tampered, first.lines[modLine-1])
	j := bytes.Index(first.lines[modLine-1], []byte(`"source":"button"`))
	if i < 0 || j < 0 {
		t.Fatalf("record %d (%s) not found in the tar", modLine, first.lines[modLine-1])
	}
	tampered[i+j+len(`"source":"butto`)] = 'N'
	clean := t.TempDir()
	if err := os.WriteFile(filepath.Join(clean, demoBundle), tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	msg, code := runIn(t, clean, camctlBin, verify[1:]...)
	want := fmt.Sprintf("NOT VERIFIED: %s:audit.jsonl: line %d (seq %d): prev does not match the hash of the record before it (seq %d, line %d): that record was modified",
		demoBundle, modLine+1, modified.Seq+1, modified.Seq, modLine)
	if code != 1 || !strings.Contains(msg, want) {
		t.Errorf("verify of the bundle with seq %d changed: exit %d, want 1 and %q:\n%s", modified.Seq, code, want, msg)
	}

	d.quit()
	after := out.String()[at:]
	if !strings.Contains(after, "camnode demo: kept "+dir+"; ") {
		t.Fatalf("-keep: no \"kept %s\" line at quit:\n%s", dir, after)
	}
	export, verify = demoAuditLines(t, after)
	final := exportAndVerify(t, camctlBin, export, verify)
	if !bytes.HasPrefix(final.audit, first.audit) {
		t.Errorf("the trail exported after quitting does not start with the records exported before")
	}
	n := len(final.records)
	if n < 2 || final.records[n-2].Kind != agent.KindStop || final.records[n-1].Kind != agent.KindCheckpoint ||
		final.signed != final.records[n-1].Seq {
		t.Errorf("after quitting, the trail ends %v, signed up to seq %d; want the stop record, then a checkpoint that signs it",
			kindsOf(final.records[max(0, n-3):]), final.signed)
	}
}

// demoDir is the demo's directory, from its first line.
func demoDir(t *testing.T, s string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, "state in ")
	dir, _, nl := strings.Cut(rest, "\n")
	if !ok || !nl || !filepath.IsAbs(dir) {
		t.Fatalf("no \"state in DIR\" in the demo's first line:\n%s", s)
	}
	return dir
}

// exported is a bundle the demo's printed commands wrote and verified.
type exported struct {
	tar     []byte
	audit   []byte   // its audit.jsonl
	lines   [][]byte // the lines of audit, newline included
	records []agent.AuditRecord
	signed  uint64 // "signed by the node's audit key up to seq"
}

var verifiedRE = regexp.MustCompile(`(?m)^VERIFIED: audit trail of node demo-node: seq 1 to (\d+) \((\d+) records, (\d+) checkpoints\); signed by the node's audit key up to seq (\d+)$`)

// exportAndVerify runs the printed export command in a directory of its
// own, copies only the bundle into an empty directory (the recipient's
// machine) and runs the printed verify command there. It must say
// VERIFIED from seq 1, with a checkpoint, under the demo's installer key.
func exportAndVerify(t *testing.T, camctlBin string, export, verify []string) exported {
	t.Helper()
	work := t.TempDir()
	if msg, code := runIn(t, work, camctlBin, export[1:]...); code != 0 || !strings.Contains(msg, "wrote "+demoBundle) {
		t.Fatalf("the printed %q: exit %d\n%s", strings.Join(export, " "), code, msg)
	}
	var e exported
	var err error
	if e.tar, err = os.ReadFile(filepath.Join(work, demoBundle)); err != nil {
		t.Fatal(err)
	}
	clean := t.TempDir()
	if err := os.WriteFile(filepath.Join(clean, demoBundle), e.tar, 0o600); err != nil {
		t.Fatal(err)
	}
	msg, code := runIn(t, clean, camctlBin, verify[1:]...)
	m := verifiedRE.FindStringSubmatch(msg)
	if code != 0 || m == nil {
		t.Fatalf("the printed %q on the bundle alone: exit %d, want VERIFIED from seq 1:\n%s", strings.Join(verify, " "), code, msg)
	}
	last, _ := strconv.ParseUint(m[1], 10, 64)
	checkpoints, _ := strconv.Atoi(m[3])
	e.signed, _ = strconv.ParseUint(m[4], 10, 64)
	if checkpoints == 0 || e.signed == 0 || e.signed > last {
		t.Errorf("bundle verified with %s checkpoints, signed up to seq %d of %d: want it signed by the node's audit key:\n%s", m[3], e.signed, last, msg)
	}
	keys, err := os.ReadFile(export[slices.Index(export, "-installer-keys")+1])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := firmware.ParseKeys(keys)
	if err != nil || len(pub) != 1 || !strings.Contains(msg, "trusted key ids: "+firmware.KeyID(pub[0])+")") {
		t.Errorf("verify does not name the demo's installer key (%v):\n%s", err, msg)
	}

	tr := tar.NewReader(bytes.NewReader(e.tar))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "audit.jsonl" {
			if e.audit, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for line := range bytes.Lines(e.audit) {
		var r agent.AuditRecord
		if err := firmware.DecodeJSON(bytes.TrimSuffix(line, []byte{'\n'}), &r); err != nil {
			t.Fatalf("bundle record %q: %v", line, err)
		}
		e.lines, e.records = append(e.lines, line), append(e.records, r)
	}
	if uint64(len(e.records)) != last || e.records[len(e.records)-1].Seq != last {
		t.Fatalf("the bundle holds %d records; verify said seq 1 to %d", len(e.records), last)
	}
	return e
}

// runIn runs bin with args in dir and returns its output and exit status.
func runIn(t *testing.T, dir, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", bin, err)
	}
	return string(out), 0
}

// waitTrail waits (at most a generous deadline, to fail instead of hang)
// until the record kinds in the audit trail at path satisfy ok.
func waitTrail(t *testing.T, path string, ok func(kinds map[string]int) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for line := range bytes.Lines(data) {
			var r agent.AuditRecord
			if firmware.DecodeJSON(bytes.TrimSuffix(line, []byte{'\n'}), &r) == nil {
				kinds[r.Kind]++
			}
		}
		if ok(kinds) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's audit trail holds %v:\n%s", kinds, data)
		}
		time.Sleep(20 * time.Millisecond) // polling a file: nothing to wait on
	}
}

func kindsOf(rs []agent.AuditRecord) []string {
	k := make([]string, len(rs))
	for i, r := range rs {
		k[i] = r.Kind
	}
	return k
}
