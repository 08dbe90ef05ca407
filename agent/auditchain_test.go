// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware"
)

// auditFixture is a node with an installer-signed identity carrying its
// audit key, and a trail it wrote.
type auditFixture struct {
	installer  ed25519.PrivateKey
	auditKey   ed25519.PrivateKey
	identity   []byte
	anchor     string
	lines      [][]byte // the trail, one record a line, no newlines
	otherNode  [][]byte // a trail of another node (same installer)
	otherIdent []byte
}

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

var fixtureTime = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// signedIdentity returns an identity file of node signed by installer.
func signedIdentity(t testing.TB, node string, installer, audit ed25519.PrivateKey) []byte {
	t.Helper()
	id := firmware.Identity{NodeID: node, Site: "Practice", Room: "Waiting room", ZoneClass: "reception",
		Installer: "test", IssuedAt: fixtureTime}
	if audit != nil {
		id.AuditKey = base64.StdEncoding.EncodeToString(audit.Public().(ed25519.PublicKey))
	}
	b, err := firmware.SignIdentity(id, installer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTrail writes n records through the chain auditor (checkpoint every
// 4 records and at Close) and returns the file's lines.
func writeTrail(t testing.TB, node string, identity []byte, key ed25519.PrivateKey, n int) [][]byte {
	t.Helper()
	anchor, err := firmware.IdentityAnchor(identity)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	now := fixtureTime
	clock := func() time.Time { now = now.Add(time.Second); return now }
	a, err := OpenAuditChain(path, ChainOptions{Anchor: anchor, Node: node, Key: key, CheckpointEvery: 4, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := a.Append(AuditRecord{ID: fmt.Sprintf("id-%s-%d", node, i), Time: clock(), Node: node,
			Kind: "privacy", Source: SourceButton, Privacy: []string{"on", "off"}[i%2]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return fileLines(t, path)
}

func fileLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'})
}

func newAuditFixture(t testing.TB) *auditFixture {
	f := &auditFixture{installer: seedKey(1), auditKey: seedKey(2)}
	f.identity = signedIdentity(t, "ward-3", f.installer, f.auditKey)
	f.anchor, _ = firmware.IdentityAnchor(f.identity)
	// 10 records and checkpoints after 4 and 8 of them and at Close:
	// seq 1-4 records, 5 checkpoint, 6-9 records, 10 checkpoint, 11-12
	// records, 13 checkpoint.
	f.lines = writeTrail(t, "ward-3", f.identity, f.auditKey, 10)
	f.otherIdent = signedIdentity(t, "ward-4", f.installer, seedKey(3))
	f.otherNode = writeTrail(t, "ward-4", f.otherIdent, seedKey(3), 10)
	return f
}

func join(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func decodeLine(t testing.TB, l []byte) AuditRecord {
	t.Helper()
	var r AuditRecord
	if err := firmware.DecodeJSON(l, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func encodeLine(t testing.TB, r AuditRecord) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rechain renumbers and relinks lines as an attacker would after editing
// them; checkpoints get the new head and are re-signed with key (nil: the
// attacker has no key and keeps the old signatures).
func rechain(t testing.TB, lines [][]byte, anchor string, key ed25519.PrivateKey) [][]byte {
	t.Helper()
	out := make([][]byte, 0, len(lines))
	prev := anchor
	for i, l := range lines {
		r := decodeLine(t, l)
		r.Seq, r.Prev = uint64(i+1), prev
		if cp := r.Checkpoint; cp != nil {
			cp.Seq, cp.Hash = r.Seq-1, r.Prev
			if key != nil {
				cp.KeyID = firmware.KeyID(key.Public().(ed25519.PublicKey))
				cp.Sig = ed25519.Sign(key, CheckpointMessage(cp.Node, cp.Seq, cp.Hash, cp.Time))
			}
		}
		b := encodeLine(t, r)
		out = append(out, b)
		prev = LineHash(b)
	}
	return out
}

func clone(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = bytes.Clone(l)
	}
	return out
}

// verifyCase is one row of the table behind TestVerifyAudit and the seeds
// of FuzzVerifyAudit.
type verifyCase struct {
	name string
	file func(t testing.TB, f *auditFixture) []byte
	// identity (default the fixture's), witness and partial are the
	// verifier's inputs.
	identity func(t testing.TB, f *auditFixture) []byte
	witness  func(t testing.TB, f *auditFixture) *ChainHead
	partial  bool
	// wantErr is part of the specific reason; "" means it verifies.
	wantErr  string
	wantWarn string
}

func headOf(t testing.TB, lines [][]byte) *ChainHead {
	last := lines[len(lines)-1]
	return &ChainHead{Seq: decodeLine(t, last).Seq, Hash: LineHash(last)}
}

func verifyCases() []verifyCase {
	edit := func(f func(t testing.TB, fx *auditFixture) [][]byte) func(testing.TB, *auditFixture) []byte {
		return func(t testing.TB, fx *auditFixture) []byte { return join(f(t, fx)) }
	}
	without := func(lines [][]byte, i, n int) [][]byte {
		out := append(clone(lines[:i]), clone(lines[i+n:])...)
		return out
	}
	return []verifyCase{
		{name: "valid", file: edit(func(t testing.TB, f *auditFixture) [][]byte { return f.lines })},
		{name: "valid with witness", file: edit(func(t testing.TB, f *auditFixture) [][]byte { return f.lines }),
			witness: func(t testing.TB, f *auditFixture) *ChainHead { return headOf(t, f.lines[:7]) }},
		{name: "torn final line is a warning", wantWarn: "torn final line", file: func(t testing.TB, f *auditFixture) []byte {
			return append(join(f.lines), f.lines[3][:20]...)
		}},
		{name: "empty file", wantErr: "no records", file: func(testing.TB, *auditFixture) []byte { return nil }},
		{name: "not a record", wantErr: "not an audit record", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			l[2] = []byte(`{"hello":1}`)
			return l
		})},
		{name: "delete one record", wantErr: "sequence gap: seq 4 follows seq 2: 1 record(s) deleted", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return without(f.lines, 2, 1)
		})},
		// The last two records (seq 11, 12) are removed but the final
		// checkpoint (13) that covers them stays: the gap shows.
		{name: "delete the last records before a checkpoint", wantErr: "sequence gap: seq 13 follows seq 10: 2 record(s) deleted", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return without(f.lines, 10, 2)
		})},
		// Cutting the end off, final checkpoint included, leaves a
		// shorter trail that is consistent: this file alone cannot tell
		// (docs/audit.md, threat model); the hub's witnessed head can.
		{name: "truncate the end: undetectable without a witness", wantWarn: "", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return f.lines[:9]
		})},
		{name: "truncate the end after the hub witnessed", wantErr: "hub witnessed seq 13: records deleted from the end", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return f.lines[:9]
		}), witness: func(t testing.TB, f *auditFixture) *ChainHead { return headOf(t, f.lines) }},
		{name: "reorder two records", wantErr: "out of order (seq 3 comes 1 line(s) later)", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			l[2], l[3] = l[3], l[2]
			return l
		})},
		{name: "modify a field", wantErr: "(seq 2, line 2): that record was modified", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			l[1] = bytes.Replace(l[1], []byte(`"button"`), []byte(`"hub"`), 1)
			return l
		})},
		{name: "modify the last record before a checkpoint", wantErr: "line 5 (seq 5): prev does not match", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			l[3] = bytes.Replace(l[3], []byte(`"privacy":"off"`), []byte(`"privacy":"on"`), 1)
			return l
		})},
		{name: "insert a forged record", wantErr: "seq 3 after seq 3: records reordered, duplicated or replayed", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			r := decodeLine(t, l[1])
			r.ID, r.Seq, r.Prev, r.Actor = "forged", 3, LineHash(l[1]), "nobody"
			return append(l[:2], append([][]byte{encodeLine(t, r)}, l[2:]...)...)
		})},
		{name: "insert a forged record and rewrite the chain without the key", wantErr: "checkpoint signature does not verify", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			r := decodeLine(t, l[1])
			r.ID, r.Actor = "forged", "nobody"
			l = append(l[:2], append([][]byte{encodeLine(t, r)}, l[2:]...)...)
			return rechain(t, l, f.anchor, nil)
		})},
		{name: "replay old records", wantErr: "seq 1 after seq 13: records reordered, duplicated or replayed", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return append(clone(f.lines), clone(f.lines[:3])...)
		})},
		{name: "replay an old file after the hub witnessed a later head", wantErr: "hub witnessed seq 13", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return f.lines[:5]
		}), witness: func(t testing.TB, f *auditFixture) *ChainHead { return headOf(t, f.lines) }},
		// With the node's key (root on the node) a rewritten chain verifies
		// on its own; the head the hub witnessed exposes it.
		{name: "rewrite and re-sign with the node key after the hub witnessed", wantErr: "trail was rewritten after the hub saw it", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := without(f.lines, 2, 1)
			return rechain(t, l, f.anchor, f.auditKey)
		}), witness: func(t testing.TB, f *auditFixture) *ChainHead { return headOf(t, f.lines[:10]) }},
		{name: "rewrite and re-sign with the node key: undetectable without a witness", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return rechain(t, without(f.lines, 2, 1), f.anchor, f.auditKey)
		})},
		{name: "another node's trail", wantErr: "record of node \"ward-4\" in the trail of node \"ward-3\"", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return f.otherNode
		})},
		{name: "swap in another node's records", wantErr: "another node's records swapped in", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			l[4] = f.otherNode[4]
			return l
		})},
		{name: "another node's trail under its identity but first record relabelled", wantErr: "does not chain to this identity", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.otherNode)
			for i := range l {
				l[i] = bytes.ReplaceAll(l[i], []byte(`"ward-4"`), []byte(`"ward-3"`))
			}
			return l
		})},
		{name: "checkpoint signed by another key", wantErr: "not the node's audit key", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return rechain(t, clone(f.lines), f.anchor, seedKey(9))
		})},
		{name: "checkpoint signature by another key under the node's key id", wantErr: "checkpoint signature does not verify", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			r := decodeLine(t, l[4])
			r.Checkpoint.Sig = ed25519.Sign(seedKey(9), CheckpointMessage(r.Checkpoint.Node, r.Checkpoint.Seq, r.Checkpoint.Hash, r.Checkpoint.Time))
			l[4] = encodeLine(t, r)
			return rechain(t, l, f.anchor, nil)
		})},
		{name: "checkpoint over another head", wantErr: "checkpoint signs seq 3", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			l := clone(f.lines)
			r := decodeLine(t, l[4])
			r.Checkpoint.Seq = 3
			l[4] = encodeLine(t, r)
			return l
		})},
		{name: "trail starting after seq 1", wantErr: "records 1 to 5 are missing", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return f.lines[5:]
		})},
		{name: "partial trail accepted with -partial", partial: true, wantWarn: "partial trail: starts at seq 6", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return f.lines[5:]
		})},
		{name: "identity signed by an unknown installer", wantErr: "not pinned", file: edit(func(t testing.TB, f *auditFixture) [][]byte { return f.lines }),
			identity: func(t testing.TB, f *auditFixture) []byte { return signedIdentity(t, "ward-3", seedKey(8), f.auditKey) }},
		// A session whose start has no end (the node crashed during it)
		// verifies, with a warning naming it; its paired neighbour does not.
		{name: "session start without its end", wantWarn: `session s2 (view_start of "alice", seq 3) has no end record: the node crashed during it`, file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			rec := func(r AuditRecord) []byte {
				r.ID, r.Time, r.Node = NewAuditID(), fixtureTime, "ward-3"
				return encodeLine(t, r)
			}
			s := func(id string) SessionRecord {
				return SessionRecord{Session: id, Role: "staff", Purpose: "p", Remote: "r", Start: fixtureTime, End: fixtureTime}
			}
			l := append(clone(f.lines[:1]), rec(SessionStartAudit(KindView, "liveview", "alice", s("s1"))),
				rec(SessionStartAudit(KindView, "liveview", "alice", s("s2"))), rec(SessionAudit(KindView, "liveview", "alice", "bye", s("s1"))),
				rec(AuditRecord{Kind: KindCrash, Source: SourceAgent, Life: &LifeRecord{}}))
			return rechain(t, append(l, clone(f.lines[1:])...), f.anchor, f.auditKey)
		})},
		{name: "identity without audit key", wantWarn: "no audit_key", file: edit(func(t testing.TB, f *auditFixture) [][]byte {
			return writeTrail(t, "ward-3", signedIdentity(t, "ward-3", f.installer, nil), nil, 3)
		}), identity: func(t testing.TB, f *auditFixture) []byte { return signedIdentity(t, "ward-3", f.installer, nil) }},
	}
}

func runVerifyCase(t testing.TB, f *auditFixture, tc verifyCase, file []byte) (VerifyReport, error) {
	opts := VerifyOptions{Identity: f.identity, InstallerKeys: []ed25519.PublicKey{f.installer.Public().(ed25519.PublicKey)}, Partial: tc.partial}
	if tc.identity != nil {
		opts.Identity = tc.identity(t, f)
	}
	if tc.witness != nil {
		opts.Witness = tc.witness(t, f)
	}
	return VerifyAudit(bytes.NewReader(file), opts)
}

func TestVerifyAudit(t *testing.T) {
	f := newAuditFixture(t)
	for _, tc := range verifyCases() {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := runVerifyCase(t, f, tc, tc.file(t, f))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyAudit: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("VerifyAudit: err %v, want %q", err, tc.wantErr)
			}
			if tc.wantWarn != "" && !strings.Contains(strings.Join(rep.Warning, "\n"), tc.wantWarn) {
				t.Fatalf("warnings %q, want %q", rep.Warning, tc.wantWarn)
			}
		})
	}
}

func FuzzVerifyAudit(f *testing.F) {
	fx := newAuditFixture(f)
	for _, tc := range verifyCases() {
		f.Add(tc.file(f, fx))
	}
	keys := []ed25519.PublicKey{fx.installer.Public().(ed25519.PublicKey)}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyAudit(bytes.NewReader(data), VerifyOptions{Identity: fx.identity, InstallerKeys: keys})
		var ve *VerifyError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("error is not a *VerifyError: %v", err)
		}
		if err == nil && rep.Records+rep.Legacy == 0 {
			t.Fatal("an empty trail verified")
		}
		_, _ = VerifyAudit(bytes.NewReader(data), VerifyOptions{Partial: true})
	})
}

// TestAuditChainSurvivesRestart: seq is never reused across restarts and
// the head is found from the tail of a file larger than the window read.
func TestAuditChainSurvivesRestart(t *testing.T) {
	f := newAuditFixture(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	big := strings.Repeat("x", 1000)
	for round := range 3 {
		a, err := OpenAuditChain(path, ChainOptions{Anchor: f.anchor, Node: "ward-3", Key: f.auditKey})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			if err := a.Append(AuditRecord{ID: fmt.Sprintf("r%d-%d", round, i), Node: "ward-3", Kind: "fault", Reason: big}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	lines := fileLines(t, path)
	// 600 records, a checkpoint after each 100 (6), none pending at Close.
	if got := decodeLine(t, lines[len(lines)-1]); got.Seq != 606 || got.Kind != KindCheckpoint {
		t.Fatalf("last record seq %d kind %q, want 606 checkpoint", got.Seq, got.Kind)
	}
	keys := []ed25519.PublicKey{f.installer.Public().(ed25519.PublicKey)}
	rep, err := VerifyAudit(bytes.NewReader(join(lines)), VerifyOptions{Identity: f.identity, InstallerKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signed != 606 || rep.Checkpoints != 6 {
		t.Fatalf("report %+v", rep)
	}
}

// TestAuditChainKillAtEveryByte: a crash (kill -9, power loss) at any
// point of writing a record leaves a file that, once the node has started
// again, verifies: a torn final line is cut and an audit_repair record
// says so; the seq of the lost record is not reused by a different one
// after a complete line.
func TestAuditChainKillAtEveryByte(t *testing.T) {
	f := newAuditFixture(t)
	keys := []ed25519.PublicKey{f.installer.Public().(ed25519.PublicKey)}
	base := join(f.lines)
	// The record that was being written when the node died: the next one
	// the chain would write.
	next := decodeLine(t, f.lines[len(f.lines)-1])
	rec := AuditRecord{ID: "dying", Seq: next.Seq + 1, Prev: LineHash(f.lines[len(f.lines)-1]), Time: fixtureTime, Node: "ward-3", Kind: "privacy", Privacy: "on"}
	line := append(encodeLine(t, rec), '\n')
	dir := t.TempDir()
	for cut := 0; cut <= len(line); cut++ {
		path := filepath.Join(dir, fmt.Sprintf("audit-%d.jsonl", cut))
		if err := os.WriteFile(path, append(bytes.Clone(base), line[:cut]...), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := OpenAuditChain(path, ChainOptions{Anchor: f.anchor, Node: "ward-3", Key: f.auditKey})
		if err != nil {
			t.Fatalf("cut %d: open: %v", cut, err)
		}
		if err := a.Append(AuditRecord{ID: "after", Node: "ward-3", Kind: "boot"}); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		rep, err := VerifyAudit(bytes.NewReader(data), VerifyOptions{Identity: f.identity, InstallerKeys: keys})
		if err != nil {
			t.Fatalf("cut %d of %d: %v", cut, len(line), err)
		}
		repaired := bytes.Contains(data, []byte(`"kind":"audit_repair"`))
		if torn := cut > 0 && cut < len(line); repaired != torn {
			t.Fatalf("cut %d: audit_repair record %v, want %v", cut, repaired, torn)
		}
		if rep.Last != rep.Signed {
			t.Fatalf("cut %d: clean stop left records %d..%d unsigned", cut, rep.Signed+1, rep.Last)
		}
	}
}

// TestAuditCheckpointTick: a checkpoint comes once the interval passed
// with records waiting, and never for an empty interval.
func TestAuditCheckpointTick(t *testing.T) {
	now := fixtureTime
	key := seedKey(2)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a, err := OpenAuditChain(path, ChainOptions{Node: "n", Key: key, CheckpointInterval: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Tick(); err != nil {
		t.Fatal(err)
	}
	if a.Head().Seq != 0 {
		t.Fatal("checkpoint of an empty trail")
	}
	if err := a.Append(AuditRecord{ID: "a", Node: "n", Kind: "boot"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Second)
	_ = a.Tick()
	if a.Head().Seq != 1 {
		t.Fatal("checkpoint before the interval")
	}
	now = now.Add(time.Second)
	_ = a.Tick()
	if a.Head().Seq != 2 {
		t.Fatalf("no checkpoint after the interval: head %+v", a.Head())
	}
	now = now.Add(time.Hour)
	_ = a.Tick()
	if a.Head().Seq != 2 {
		t.Fatal("checkpoint with no record to cover")
	}
}

// TestAuditChainFailedWrite: a record that cannot be written is an error,
// takes no seq and is not forwarded; the next record continues the chain.
func TestAuditChainFailedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var fwd forwardLog
	a, err := OpenAuditChain(path, ChainOptions{Node: "n", Forward: &fwd})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Append(AuditRecord{ID: "1", Node: "n", Kind: "boot"}); err != nil {
		t.Fatal(err)
	}
	good := a.f
	ro, err := os.Open(path) // writes to it fail (EBADF), like a full or dead disk
	if err != nil {
		t.Fatal(err)
	}
	a.f = ro
	if err := a.Append(AuditRecord{ID: "2", Node: "n", Kind: "privacy"}); err == nil {
		t.Fatal("a failed write returned nil")
	}
	a.f = good
	ro.Close()
	if err := a.Append(AuditRecord{ID: "3", Node: "n", Kind: "privacy"}); err != nil {
		t.Fatal(err)
	}
	if h := a.Head(); h.Seq != 2 {
		t.Fatalf("head seq %d after one failed write, want 2 (no seq taken)", h.Seq)
	}
	if got := strings.Join(fwd.ids, ","); got != "1,3" {
		t.Fatalf("forwarded %s, want 1,3", got)
	}
	data, _ := os.ReadFile(path)
	if _, err := VerifyAudit(bytes.NewReader(data), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

type forwardLog struct{ ids []string }

func (f *forwardLog) Append(r AuditRecord) error { f.ids = append(f.ids, r.ID); return nil }

// TestChainWitness: the hub-side follower advances on the chain, accepts
// resends, and reports a rewrite or a gap without moving its head.
func TestChainWitness(t *testing.T) {
	f := newAuditFixture(t)
	var w ChainWitness
	for i, l := range f.lines[:6] {
		if err := w.Observe(l); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
	if err := w.Observe(f.lines[2]); err != nil { // a resend
		t.Fatalf("resend: %v", err)
	}
	head := *w.Head
	if head.Seq != 6 || head.Hash != LineHash(f.lines[5]) {
		t.Fatalf("head %+v", head)
	}
	rewritten := rechain(t, append(clone(f.lines[:2]), f.lines[3:]...), f.anchor, f.auditKey)
	for _, tc := range []struct {
		name, want string
		line       []byte
	}{
		{"rewritten seq 6", "differs from the record witnessed", rewritten[5]},
		{"rewritten seq 7", "does not chain to the witnessed seq 6", rewritten[6]},
		{"gap", "sequence gap: seq 8 after the witnessed seq 6", f.lines[7]},
		{"garbage", "not an audit record", []byte("{")},
	} {
		if err := w.Observe(tc.line); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if *w.Head != head {
			t.Fatalf("%s moved the head", tc.name)
		}
	}
	if err := w.Observe(f.lines[6]); err != nil || w.Head.Seq != 7 {
		t.Fatalf("seq 7 after the errors: %v %+v", err, w.Head)
	}
}

// FuzzOpenAuditChain: whatever the file holds (the same seeds as
// FuzzVerifyAudit), opening the chain and appending never panics or
// hangs, and a record appended to a chain it opened gets a seq above the
// head it found.
func FuzzOpenAuditChain(f *testing.F) {
	fx := newAuditFixture(f)
	for _, tc := range verifyCases() {
		f.Add(tc.file(f, fx))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := OpenAuditChain(path, ChainOptions{Node: "ward-3", Key: fx.auditKey, CheckpointEvery: 2})
		if err != nil {
			return
		}
		defer a.Close()
		before := a.Head()
		if err := a.Append(AuditRecord{ID: "x", Node: "ward-3", Kind: "boot"}); err != nil {
			t.Fatal(err)
		}
		if h := a.Head(); h.Seq <= before.Seq {
			t.Fatalf("seq went from %d to %d", before.Seq, h.Seq)
		}
	})
}
