// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware"
)

// rotFixture is a node's state directory written through a rotating chain.
type rotFixture struct {
	t        *testing.T
	dir      string
	identity []byte
	opts     ChainOptions
	mu       sync.Mutex
	now      time.Time
}

func newRotFixture(t *testing.T) *rotFixture {
	f := &rotFixture{t: t, dir: t.TempDir(), now: fixtureTime}
	f.identity = signedIdentity(t, "ward-3", seedKey(1), seedKey(2))
	anchor, err := firmware.IdentityAnchor(f.identity)
	if err != nil {
		t.Fatal(err)
	}
	f.opts = ChainOptions{Anchor: anchor, Node: "ward-3", Key: seedKey(2), CheckpointEvery: 1000,
		RotateSize: 2000, Now: f.clock}
	return f
}

func (f *rotFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *rotFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *rotFixture) open() *FileAuditor {
	f.t.Helper()
	a, err := OpenAuditChain(filepath.Join(f.dir, CurrentAuditFile), f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *rotFixture) write(a *FileAuditor, n int, tag string) {
	f.t.Helper()
	for i := range n {
		if err := a.Append(AuditRecord{ID: fmt.Sprintf("%s-%d", tag, i), Time: f.clock(), Node: "ward-3", Kind: KindPrivacy,
			Source: SourceButton, Privacy: "on", Reason: strings.Repeat("x", 100)}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// verify reads the directory's rotated set as camctl audit verify DIR does.
func (f *rotFixture) verify(partial bool) (VerifyReport, error) {
	f.t.Helper()
	r, _, err := OpenAuditTrail(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Close()
	return VerifyAudit(r, VerifyOptions{Identity: f.identity, InstallerKeys: []ed25519.PublicKey{seedKey(1).Public().(ed25519.PublicKey)}, Partial: partial})
}

func (f *rotFixture) rotated() []string {
	names, err := AuditFiles(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if filepath.Base(n) != CurrentAuditFile {
			out = append(out, filepath.Base(n))
		}
	}
	return out
}

// TestAuditRotationBySize: the file is rotated at RotateSize, each rotated
// file ends with a checkpoint that signs it, the chain continues across
// files and across a restart, and the set verifies as one trail.
func TestAuditRotationBySize(t *testing.T) {
	f := newRotFixture(t)
	a := f.open()
	f.write(a, 40, "a")
	head := a.Head()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rot := f.rotated()
	if len(rot) < 2 {
		t.Fatalf("rotated files %v: want several at 2000 bytes", rot)
	}
	if rot[0] != rotatedName(1) {
		t.Fatalf("first rotated file %s, want %s", rot[0], rotatedName(1))
	}
	for _, n := range rot {
		lines := fileLines(t, filepath.Join(f.dir, n))
		if last := decodeLine(t, lines[len(lines)-1]); last.Kind != KindCheckpoint {
			t.Errorf("%s ends with a %s record, not a checkpoint", n, last.Kind)
		}
		if fi, _ := os.Stat(filepath.Join(f.dir, n)); fi.Size() > 2000+2*int64(len(lines[0]))+600 {
			t.Errorf("%s is %d bytes", n, fi.Size())
		}
	}
	a = f.open()
	if got := a.Head(); got.Seq <= head.Seq {
		t.Fatalf("head after restart %+v, before %+v", got, head)
	}
	f.write(a, 5, "b")
	a.Close()
	rep, err := f.verify(false)
	if err != nil {
		t.Fatalf("rotated set does not verify: %v", err)
	}
	if rep.First != 1 || rep.Signed != rep.Last {
		t.Fatalf("report %+v: want seq 1 to the end, all signed", rep)
	}
}

// TestAuditRotationCrashAfterRename: a crash between the rename and the new
// file leaves no audit.jsonl; the next start continues the chain from the
// newest rotated file.
func TestAuditRotationCrashAfterRename(t *testing.T) {
	f := newRotFixture(t)
	f.opts.RotateSize = 0
	a := f.open()
	f.write(a, 3, "a")
	a.Close()
	if err := os.Rename(filepath.Join(f.dir, CurrentAuditFile), filepath.Join(f.dir, rotatedName(1))); err != nil {
		t.Fatal(err)
	}
	a = f.open()
	if h := a.Head(); h.Seq != 4 { // 3 records and the closing checkpoint
		t.Fatalf("head %+v after a crash mid-rotation, want seq 4", h)
	}
	f.write(a, 2, "b")
	a.Close()
	if _, err := f.verify(false); err != nil {
		t.Fatal(err)
	}
}

// TestAuditRotationByAge: an old file is rotated by Tick even when no
// record comes.
func TestAuditRotationByAge(t *testing.T) {
	f := newRotFixture(t)
	f.opts.RotateSize, f.opts.RotateAge = 0, time.Hour
	a := f.open()
	defer a.Close()
	f.write(a, 2, "a")
	if err := a.Tick(); err != nil {
		t.Fatal(err)
	}
	if r := f.rotated(); len(r) != 0 {
		t.Fatalf("rotated %v before the age", r)
	}
	f.advance(time.Hour)
	if err := a.Tick(); err != nil {
		t.Fatal(err)
	}
	if r := f.rotated(); len(r) != 1 {
		t.Fatalf("rotated %v after the age, want one file", r)
	}
}

// TestAuditRetentionNeverDropsUnwitnessed: retention deletes rotated
// files over KeepSize only up to the head the hub witnessed; without a
// witness nothing is deleted; each deletion is recorded and what is left
// verifies (as a partial trail).
func TestAuditRetentionNeverDropsUnwitnessed(t *testing.T) {
	f := newRotFixture(t)
	var wmu sync.Mutex
	var witnessed *ChainHead
	f.opts.KeepSize = 2000
	f.opts.Witnessed = func() *ChainHead { wmu.Lock(); defer wmu.Unlock(); return witnessed }
	a := f.open()
	f.write(a, 40, "a")
	all := f.rotated()
	if len(all) < 3 {
		t.Fatalf("rotated %v", all)
	}
	// No witness: over KeepSize, and nothing deleted.
	if _, err := f.verify(false); err != nil {
		t.Fatal(err)
	}
	// The hub witnessed up to the middle of the second file.
	second, _ := rotatedSeq(all[1])
	third, _ := rotatedSeq(all[2])
	wmu.Lock()
	witnessed = &ChainHead{Seq: (second + third) / 2}
	wmu.Unlock()
	f.write(a, 15, "b")
	a.Close()
	left := f.rotated()
	if len(left) == 0 || left[0] != all[1] {
		t.Fatalf("after retention %v (before %v): want only the first file deleted (the second is not all witnessed)", left, all)
	}
	rep, err := f.verify(true)
	if err != nil {
		t.Fatalf("trail after retention: %v", err)
	}
	if rep.First != second {
		t.Fatalf("trail starts at %d, want %d", rep.First, second)
	}
	r, _, _ := OpenAuditTrail(f.dir)
	data, _ := io.ReadAll(r)
	r.Close()
	if !strings.Contains(string(data), `"kind":"audit_retention"`) || !strings.Contains(string(data), "deleted "+all[0]) {
		t.Fatalf("no retention record for %s", all[0])
	}
	// Without partial, the verifier says the start is missing.
	if _, err := f.verify(false); err == nil || !strings.Contains(err.Error(), "records 1 to") {
		t.Fatalf("verify without -partial: %v", err)
	}
}

// rotatedSetCase is one run of FuzzRotatedSet's body: data is the newest
// rotated file (audit.jsonl empty), as after a crash mid-rotation. Opening
// the chain and reading the set never panics or hangs; an opened chain
// appends above the head it found.
func rotatedSetCase(t *testing.T, key ed25519.PrivateKey, data []byte) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, rotatedName(1)), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = ReadAuditFrom(dir, 0, func(AuditRecord) error { return nil })
	a, err := OpenAuditChain(filepath.Join(dir, CurrentAuditFile), ChainOptions{Node: "ward-3", Key: key, CheckpointEvery: 2, RotateSize: 300})
	if err != nil {
		return
	}
	defer a.Close()
	before := a.Head()
	if err := a.Append(AuditRecord{ID: "x", Node: "ward-3", Kind: KindBoot}); err != nil {
		t.Fatal(err)
	}
	if h := a.Head(); h.Seq <= before.Seq {
		t.Fatalf("seq went from %d to %d", before.Seq, h.Seq)
	}
}

// TestRotatedSetCases runs FuzzRotatedSet's seeds (verifyCases' files).
func TestRotatedSetCases(t *testing.T) {
	fx := newAuditFixture(t)
	for _, tc := range verifyCases() {
		t.Run(tc.name, func(t *testing.T) { rotatedSetCase(t, fx.auditKey, tc.file(t, fx)) })
	}
}

func FuzzRotatedSet(f *testing.F) {
	fx := newAuditFixture(f)
	for _, tc := range verifyCases() {
		f.Add(tc.file(f, fx))
	}
	f.Fuzz(func(t *testing.T, data []byte) { rotatedSetCase(t, fx.auditKey, data) })
}
