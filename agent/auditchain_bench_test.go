// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAuditRecord is the cost of one audit record: marshal, hash,
// write and fsync (the figure is dominated by fsync on the file system the
// test's temp dir is on; set TMPDIR to measure another). ns/op is the
// sustained rate with fsync: 1e9/ns-per-op records per second. No
// checkpoints (no key).
func BenchmarkAuditRecord(b *testing.B) {
	benchAppend(b, ChainOptions{Node: "ward-3"})
}

// BenchmarkCheckpoint is the cost of one signed checkpoint (Ed25519 sign,
// then a record like any other): a checkpoint after every record, so each
// iteration is one record and its checkpoint (subtract
// BenchmarkAuditRecord).
func BenchmarkCheckpoint(b *testing.B) {
	benchAppend(b, ChainOptions{Node: "ward-3", Key: seedKey(2), CheckpointEvery: 1})
}

// benchAppend appends one privacy record per iteration to a new chain.
func benchAppend(b *testing.B, opts ChainOptions) {
	a, err := OpenAuditChain(filepath.Join(b.TempDir(), "audit.jsonl"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	rec := AuditRecord{ID: NewAuditID(), Time: time.Now(), Node: "ward-3", Kind: "privacy", Source: SourceButton, Privacy: "on"}
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAudit is the verifier's cost per record (hash, strict
// decode; the fixture trail has a checkpoint every 4 records, so 1 in 5
// records is a signature check: a pessimistic figure).
func BenchmarkVerifyAudit(b *testing.B) {
	f := newAuditFixture(b)
	lines := writeTrail(b, "ward-3", f.identity, f.auditKey, 1000)
	data := join(lines)
	opts := VerifyOptions{Identity: f.identity, InstallerKeys: []ed25519.PublicKey{f.installer.Public().(ed25519.PublicKey)}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyAudit(bytes.NewReader(data), opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(lines)), "ns/record")
}
