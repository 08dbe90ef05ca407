// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camnode/camnode/firmware"
)

// Audit chain constants (docs/audit.md).
const (
	// KindCheckpoint is the kind of a signed chain head.
	KindCheckpoint = "checkpoint"
	// KindAuditRepair is the kind of the record written at start when the
	// file ended in a torn (partly written) line that was removed.
	KindAuditRepair = "audit_repair"
	// MaxAuditLine bounds one record's line; longer lines are refused
	// when writing and are damage when reading.
	MaxAuditLine = 64 << 10
	// DefaultCheckpointEvery and DefaultCheckpointInterval: a checkpoint
	// after this many records, or once this long has passed with records
	// not yet covered (config audit.checkpoint_every/_interval).
	DefaultCheckpointEvery    = 100
	DefaultCheckpointInterval = 10 * time.Minute
	// CheckpointFormat starts the message a checkpoint signs.
	CheckpointFormat = "camnode-audit-checkpoint/1"
)

// ZeroAnchor is what the first record chains to when the node has no
// verified identity (docs/audit.md): such a trail verifies as unanchored.
var ZeroAnchor = strings.Repeat("0", 64)

// AuditCheckpoint is the chain head signed by the node's audit key: the
// record before the checkpoint record has Seq and hashes to Hash.
type AuditCheckpoint struct {
	Node  string    `json:"node"`
	Seq   uint64    `json:"seq"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
	KeyID string    `json:"key_id"` // firmware.KeyID of the audit key
	Sig   []byte    `json:"sig"`    // Ed25519 over CheckpointMessage, base64
}

// CheckpointMessage is the exact byte string a checkpoint signs.
func CheckpointMessage(node string, seq uint64, hash string, t time.Time) []byte {
	return fmt.Appendf(nil, "%s\nnode=%s\nseq=%d\nhash=%s\ntime=%s\n", CheckpointFormat, node, seq, hash, t.UTC().Format(time.RFC3339Nano))
}

// LineHash is the chain hash of one record line (without its newline).
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// ChainHead is the last record of a chain: its seq and LineHash.
type ChainHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// ChainOptions configures OpenAuditChain.
type ChainOptions struct {
	// Anchor is the hex SHA-256 that seq 1 chains to:
	// firmware.IdentityAnchor of the identity file; "" means ZeroAnchor.
	Anchor string
	// Node stamps the records the chain writes itself.
	Node string
	// Key signs checkpoints; nil writes none (the trail is unsigned).
	Key                ed25519.PrivateKey
	CheckpointEvery    int           // default DefaultCheckpointEvery
	CheckpointInterval time.Duration // default DefaultCheckpointInterval
	// Forward receives each record once it is durable in the file, e.g.
	// the MQTT outbox; its error is returned (a fault) but the record
	// stays in the chain.
	Forward Auditor
	Now     func() time.Time
	Logger  *slog.Logger
	// RotateSize and RotateAge rotate the file (auditrotate.go); 0:
	// never by that measure.
	RotateSize int64
	RotateAge  time.Duration
	// KeepSize and KeepAge delete rotated files whose records the hub has
	// all witnessed (Witnessed, nil: nothing is ever deleted).
	KeepSize  int64
	KeepAge   time.Duration
	Witnessed func() *ChainHead
}

// FileAuditor appends the hash-chained audit trail to a file, one JSON line
// a record, each fsynced before Append returns (docs/audit.md).
type FileAuditor struct {
	opts ChainOptions
	log  *slog.Logger
	path string

	mu      sync.Mutex // guards everything below
	f       *os.File
	size    int64 // end of the last durable record
	dirty   bool  // a failed write may have left bytes after size
	head    ChainHead
	sinceCP int // records not yet covered by a checkpoint
	lastCP  time.Time
	closed  bool
	// fileFirst and fileStart are the seq and time of the current file's
	// first record (rotation).
	fileFirst uint64
	fileStart time.Time
	// writeHook, when set (tests), replaces the file's Write: a full disk
	// (ENOSPC) without filling one.
	writeHook func([]byte) (int, error)
}

// OpenFileAuditor opens the chain at path with no identity anchor, no key
// and no forwarding (tests, tools).
func OpenFileAuditor(path string) (*FileAuditor, error) {
	return OpenAuditChain(path, ChainOptions{})
}

// OpenAuditChain opens (creating) the append-only audit file and finds the
// chain head from its last record, reading at most the last 2*MaxAuditLine
// bytes. A torn final line (a write cut short by a crash: its Append never
// returned) is cut off and an audit_repair record says so. The file must be
// a regular file: a FIFO would block the open (and boot), a device such as
// /dev/null would swallow the trail.
func OpenAuditChain(path string, opts ChainOptions) (*FileAuditor, error) {
	if opts.Anchor == "" {
		opts.Anchor = ZeroAnchor
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit: %s: %w", path, firmware.ErrNotRegular)
	}
	// O_NONBLOCK: a FIFO swapped in after the check cannot block the open.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("audit: %s: %w", path, firmware.ErrNotRegular)
	}
	a := &FileAuditor{opts: opts, log: opts.Logger, path: path, f: f, lastCP: opts.Now()}
	repair, err := a.recover()
	if err == nil && a.size == 0 {
		// An empty file after rotated ones (a rotation, or a crash right
		// after its rename): the chain goes on from the newest of them.
		var h ChainHead
		var ok bool
		if h, ok, err = lastRotatedHead(filepath.Dir(path)); ok {
			a.head = h
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	a.fileFirst = a.head.Seq + 1
	if a.size > 0 {
		a.firstRecord()
	}
	if repair != "" {
		a.log.Error("audit: "+repair, "path", path)
		if err := a.Append(AuditRecord{ID: NewAuditID(), Time: opts.Now(), Node: opts.Node,
			Kind: KindAuditRepair, Source: SourceAgent, Reason: repair}); err != nil {
			f.Close()
			return nil, err
		}
	}
	return a, nil
}

// recover finds the head from the tail of the file and cuts a torn final
// line. It returns what it repaired, for the audit_repair record.
func (a *FileAuditor) recover() (string, error) {
	fi, err := a.f.Stat()
	if err != nil {
		return "", err
	}
	size := fi.Size()
	if size == 0 {
		a.head = ChainHead{Seq: 0, Hash: a.opts.Anchor}
		return "", nil
	}
	n := min(size, 2*MaxAuditLine+2)
	tail := make([]byte, n)
	if _, err := a.f.ReadAt(tail, size-n); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	var repair string
	if tail[len(tail)-1] != '\n' {
		cut := bytes.LastIndexByte(tail, '\n') + 1 // 0: no newline in the window
		if cut == 0 && n < size {
			return "", fmt.Errorf("last %d bytes hold no complete line: not an audit trail", n)
		}
		torn := tail[cut:]
		newSize := size - int64(len(torn))
		if err := a.f.Truncate(newSize); err != nil {
			return "", fmt.Errorf("cutting a torn final line: %w", err)
		}
		if err := a.f.Sync(); err != nil {
			return "", fmt.Errorf("cutting a torn final line: %w", err)
		}
		repair = fmt.Sprintf("torn final line removed at start (%d bytes, sha256 %s): a write cut short by a crash or power loss", len(torn), LineHash(torn))
		tail, size = tail[:cut], newSize
	}
	a.size = size
	if size == 0 {
		a.head = ChainHead{Seq: 0, Hash: a.opts.Anchor}
		return repair, nil
	}
	// The head is the last line; its seq comes from the last line that
	// decodes, plus one per damaged line after it (a damaged line may
	// have been a record: its seq is never reused).
	lines := bytes.Split(tail[:len(tail)-1], []byte{'\n'})
	if int64(len(tail)) < size {
		lines = lines[1:] // the first piece may start mid-line
	}
	if len(lines) == 0 {
		return "", errors.New("the last line is longer than any record")
	}
	last := lines[len(lines)-1]
	damaged := 0
	for i := len(lines) - 1; i >= 0; i-- {
		var r AuditRecord
		if err := firmware.DecodeJSON(lines[i], &r); err != nil {
			damaged++
			continue
		}
		a.head = ChainHead{Seq: r.Seq + uint64(damaged), Hash: LineHash(last)}
		if damaged > 0 {
			repair = strings.TrimPrefix(repair+fmt.Sprintf("; %d damaged line(s) at the end of the trail kept as they are; the chain continues after them", damaged), "; ")
		}
		return repair, nil
	}
	return "", fmt.Errorf("no record in the last %d bytes: cannot find the chain head", len(tail))
}

// Head returns the chain head: the last durable record.
func (a *FileAuditor) Head() ChainHead {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.head
}

// Append stamps rec with the next seq and the previous record's hash,
// writes and fsyncs it, forwards it, and writes a checkpoint when one is
// due. An error before the record is durable leaves the chain as it was
// (the record is not in it, its seq is not used and it is not forwarded).
func (a *FileAuditor) Append(rec AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.appendLocked(rec); err != nil {
		return err
	}
	if a.opts.Key != nil && a.sinceCP >= a.opts.CheckpointEvery {
		if err := a.checkpointLocked(); err != nil {
			return err
		}
	}
	a.maybeRotateLocked()
	return nil
}

// Tick writes a checkpoint when records are waiting for one and
// CheckpointInterval has passed since the last; the node calls it
// periodically.
func (a *FileAuditor) Tick() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.maybeRotateLocked() // by age, while no record comes
	if a.closed || a.opts.Key == nil || a.sinceCP == 0 || a.opts.Now().Sub(a.lastCP) < a.opts.CheckpointInterval {
		return nil
	}
	return a.checkpointLocked()
}

func (a *FileAuditor) appendLocked(rec AuditRecord) error {
	if a.closed {
		return errors.New("audit: closed")
	}
	rec.Seq, rec.Prev = a.head.Seq+1, a.head.Hash
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(line) > MaxAuditLine {
		return fmt.Errorf("audit: record of %d bytes, more than %d", len(line), MaxAuditLine)
	}
	first := a.size == 0
	if err := a.writeLocked(line); err != nil {
		return err
	}
	if first {
		a.fileFirst, a.fileStart = rec.Seq, a.opts.Now()
	}
	a.head = ChainHead{Seq: rec.Seq, Hash: LineHash(line)}
	a.sinceCP++
	if a.opts.Forward != nil {
		if err := a.opts.Forward.Append(rec); err != nil {
			return err
		}
	}
	return nil
}

// writeLocked appends line and fsyncs. After a failure the file is cut
// back to the last durable record (now, or before the next write), so a
// half-written line never sits inside the chain.
func (a *FileAuditor) writeLocked(line []byte) error {
	if a.dirty {
		if err := a.f.Truncate(a.size); err != nil {
			return fmt.Errorf("audit: cutting a failed write: %w", err)
		}
		a.dirty = false
	}
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	write := a.f.Write
	if a.writeHook != nil {
		write = a.writeHook
	}
	_, err := write(buf)
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		a.dirty = true
		if terr := a.f.Truncate(a.size); terr == nil {
			a.dirty = false
		}
		return fmt.Errorf("audit: %w", err)
	}
	a.size += int64(len(buf))
	return nil
}

func (a *FileAuditor) checkpointLocked() error {
	now := a.opts.Now()
	cp := AuditCheckpoint{Node: a.opts.Node, Seq: a.head.Seq, Hash: a.head.Hash, Time: now,
		KeyID: firmware.KeyID(a.opts.Key.Public().(ed25519.PublicKey))}
	cp.Sig = ed25519.Sign(a.opts.Key, CheckpointMessage(cp.Node, cp.Seq, cp.Hash, cp.Time))
	if err := a.appendLocked(AuditRecord{ID: NewAuditID(), Time: now, Node: a.opts.Node,
		Kind: KindCheckpoint, Source: SourceAgent, Checkpoint: &cp}); err != nil {
		return err
	}
	a.sinceCP, a.lastCP = 0, now
	return nil
}

// Close writes a final checkpoint when records are not yet covered by one
// (a clean stop), then closes the file.
func (a *FileAuditor) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	var err error
	if a.opts.Key != nil && a.sinceCP > 0 {
		err = a.checkpointLocked()
	}
	a.closed = true
	return errors.Join(err, a.f.Close())
}
