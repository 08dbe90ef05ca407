// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/camnode/camnode/agent"
)

// Outbox limits (defaults).
const (
	DefaultOutboxRecords = 10000
	DefaultOutboxBytes   = 8 << 20
	maxOutboxLine        = 64 << 10
	compactAfterAcks     = 1024
)

// KindOutboxOverflow is the audit kind of the record that reports records
// the outbox could not hold.
const KindOutboxOverflow = "outbox_overflow"

// OutboxOptions configures an Outbox.
type OutboxOptions struct {
	MaxRecords int // default DefaultOutboxRecords
	MaxBytes   int // default DefaultOutboxBytes (sum of the records' JSON)
	Node       string
	Logger     *slog.Logger
	Now        func() time.Time
}

// Outbox is a durable queue of audit records waiting for the broker's
// PUBACK. It implements agent.Auditor: Append returns once the record is
// fsynced to the outbox file.
//
// The file is a log of JSON lines: {"add":record}, {"ack":"id"} and
// {"overflow":{...}}. Opening it replays the log and rewrites it with only
// the pending records (compaction); compaction also runs once enough acks
// have piled up.
//
// Overflow policy: when the outbox holds MaxRecords records or MaxBytes
// bytes, a new record is not queued; instead a persisted overflow counter
// (count, first and last time) goes up and Append still returns nil, so the
// agent never refuses or fails a safety action because the hub is away.
// The record itself is not lost: the outbox is always used behind the
// node's local audit log (see Tee), which has every record. As soon as there
// is room, one record of kind "outbox_overflow" saying how many records
// were not forwarded, and when, is queued and published like any other; and
// until it is acknowledged the node's status carries the fault
// "audit_outbox". Damaged lines found when opening the file are counted the
// same way.
type Outbox struct {
	opts OutboxOptions
	log  *slog.Logger
	path string

	mu       sync.Mutex // guards everything below
	f        *os.File
	pending  []pendingRec
	bytes    int
	acks     int // ack lines in the file
	overflow Overflow
	closed   bool

	wake chan struct{}
}

type pendingRec struct {
	rec  agent.AuditRecord
	size int
}

// Overflow counts records the outbox could not hold.
type Overflow struct {
	Count int       `json:"count"`
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
}

// OutboxStats is the outbox's state, published in the status.
type OutboxStats struct {
	Pending  int `json:"pending"`
	Bytes    int `json:"bytes"`
	Overflow int `json:"overflow"` // records not yet reported by an outbox_overflow record
}

type outboxLine struct {
	Add      *agent.AuditRecord `json:"add,omitempty"`
	Ack      string             `json:"ack,omitempty"`
	Overflow *Overflow          `json:"overflow,omitempty"`
}

// OpenOutbox opens (creating) the outbox at path and replays it.
func OpenOutbox(path string, opts OutboxOptions) (*Outbox, error) {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = DefaultOutboxRecords
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultOutboxBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := &Outbox{opts: opts, log: opts.Logger, path: path, wake: make(chan struct{}, 1)}
	if err := o.replay(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.compactLocked(); err != nil {
		return nil, err
	}
	o.reportOverflowLocked()
	if len(o.pending) > 0 {
		o.signal()
	}
	return o, nil
}

func (o *Outbox) replay() error {
	f, err := os.Open(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var damaged int
	byID := map[string]bool{}
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than any record we write: skip it whole.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			damaged++
			continue
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("audit outbox: %w", err)
		}
		last := err == io.EOF // no newline: the last write may be cut short
		var l outboxLine
		if jerr := json.Unmarshal(bytes.TrimSpace(line), &l); jerr != nil {
			if last {
				break // a torn final write: its Append reported an error
			}
			damaged++
			o.log.Error("audit outbox: damaged line skipped", "line", lineNo, "err", jerr)
			continue
		}
		switch {
		case l.Add != nil:
			if l.Add.ID == "" || byID[l.Add.ID] {
				damaged++
				continue
			}
			byID[l.Add.ID] = true
			o.pushLocked(*l.Add)
		case l.Ack != "":
			o.removeLocked(l.Ack)
		case l.Overflow != nil:
			o.overflow = *l.Overflow
		default:
			damaged++
		}
		if err == io.EOF {
			break
		}
	}
	if damaged > 0 {
		now := o.opts.Now()
		o.overflow.Count += damaged
		if o.overflow.First.IsZero() {
			o.overflow.First = now
		}
		o.overflow.Last = now
	}
	return nil
}

func (o *Outbox) pushLocked(rec agent.AuditRecord) {
	b, _ := json.Marshal(rec)
	o.pending = append(o.pending, pendingRec{rec: rec, size: len(b)})
	o.bytes += len(b)
}

func (o *Outbox) removeLocked(id string) bool {
	for i, p := range o.pending {
		if p.rec.ID == id {
			o.bytes -= p.size
			o.pending = append(o.pending[:i], o.pending[i+1:]...)
			return true
		}
	}
	return false
}

func (o *Outbox) fullLocked(size int) bool {
	return len(o.pending) >= o.opts.MaxRecords || o.bytes+size > o.opts.MaxBytes
}

// Append queues rec durably. A full outbox counts rec as overflow (see the
// type's documentation) and still returns nil; an error means the outbox
// file could not be written.
func (o *Outbox) Append(rec agent.AuditRecord) error {
	if rec.ID == "" {
		return errors.New("audit outbox: record has no id")
	}
	b, err := json.Marshal(outboxLine{Add: &rec})
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("audit outbox: closed")
	}
	if o.fullLocked(len(b)) {
		now := o.opts.Now()
		ov := o.overflow
		ov.Count++
		if ov.First.IsZero() {
			ov.First = now
		}
		ov.Last = now
		ob, _ := json.Marshal(outboxLine{Overflow: &ov})
		if err := o.writeLocked(ob); err != nil {
			return err
		}
		if o.overflow.Count == 0 {
			o.log.Error("audit outbox full: records are kept only in the local audit log until the hub acknowledges", "pending", len(o.pending))
		}
		o.overflow = ov
		return nil
	}
	if err := o.writeLocked(b); err != nil {
		return err
	}
	o.pushLocked(rec)
	o.signal()
	return nil
}

func (o *Outbox) writeLocked(line []byte) error {
	if o.f == nil {
		return errors.New("audit outbox: not open")
	}
	if _, err := o.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	return nil
}

// reportOverflowLocked queues the outbox_overflow record once there is room.
func (o *Outbox) reportOverflowLocked() {
	if o.overflow.Count == 0 || o.f == nil {
		return
	}
	rec := agent.AuditRecord{
		ID: agent.NewAuditID(), Time: o.opts.Now(), Node: o.opts.Node, Kind: KindOutboxOverflow,
		Source: agent.SourceAgent,
		Reason: fmt.Sprintf("%d audit record(s) from %s to %s were not forwarded (outbox full or damaged); the node's local audit log has them",
			o.overflow.Count, o.overflow.First.UTC().Format(time.RFC3339), o.overflow.Last.UTC().Format(time.RFC3339)),
	}
	add, _ := json.Marshal(outboxLine{Add: &rec})
	if len(o.pending) >= o.opts.MaxRecords || o.bytes+len(add) > o.opts.MaxBytes {
		return
	}
	reset, _ := json.Marshal(outboxLine{Overflow: &Overflow{}})
	// One write, one fsync: after a crash either both lines or neither
	// (a torn second line only repeats the report, it loses nothing).
	if err := o.writeLocked(append(append(add, '\n'), reset...)); err != nil {
		o.log.Error("audit outbox: cannot queue the overflow report", "err", err)
		return
	}
	o.pushLocked(rec)
	o.overflow = Overflow{}
	o.signal()
}

// Pending returns up to n of the oldest pending records.
func (o *Outbox) Pending(n int) []agent.AuditRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	n = min(n, len(o.pending))
	out := make([]agent.AuditRecord, n)
	for i := range n {
		out[i] = o.pending[i].rec
	}
	return out
}

// Ack removes the record id after the broker acknowledged it. Unknown ids
// are ignored.
func (o *Outbox) Ack(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("audit outbox: closed")
	}
	if !o.removeLocked(id) {
		return nil
	}
	b, _ := json.Marshal(outboxLine{Ack: id})
	if err := o.writeLocked(b); err != nil {
		return err
	}
	o.acks++
	if o.acks >= compactAfterAcks && o.acks > len(o.pending) {
		if err := o.compactLocked(); err != nil {
			o.log.Error("audit outbox: compaction failed", "err", err)
		}
	}
	o.reportOverflowLocked()
	return nil
}

// compactLocked rewrites the file with only the pending records and the
// overflow counter, atomically (temp file, fsync, rename, fsync dir).
func (o *Outbox) compactLocked() error {
	var buf bytes.Buffer
	for _, p := range o.pending {
		b, _ := json.Marshal(outboxLine{Add: &p.rec})
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if o.overflow.Count > 0 {
		ov := o.overflow
		b, _ := json.Marshal(outboxLine{Overflow: &ov})
		buf.Write(b)
		buf.WriteByte('\n')
	}
	dir := filepath.Dir(o.path)
	tmp, err := os.CreateTemp(dir, ".outbox-*")
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("audit outbox: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("audit outbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), o.path); err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	if o.f != nil {
		o.f.Close()
	}
	o.f = f
	o.acks = 0
	return nil
}

// Stats returns the outbox's counters.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OutboxStats{Pending: len(o.pending), Bytes: o.bytes, Overflow: o.overflow.Count}
}

// Wake receives a value when records were queued.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }

func (o *Outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Close closes the file. Pending records stay in it for the next start.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if o.f == nil {
		return nil
	}
	return o.f.Close()
}

// Tee appends each record to every auditor in order, e.g. the local audit
// log first, then the outbox. It returns the joined errors.
func Tee(auditors ...agent.Auditor) agent.Auditor { return tee(auditors) }

type tee []agent.Auditor

func (t tee) Append(rec agent.AuditRecord) error {
	var errs []error
	for _, a := range t {
		if err := a.Append(rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
