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
	"github.com/camnode/camnode/firmware"
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

// Outbox is a durable queue of audit records waiting for the hub's
// acknowledgement (an id on Topics.AuditAck, not merely the broker's
// PUBACK: a broker acknowledges what its ACL then drops, and one without
// persistence loses what it acknowledged when it restarts). It implements
// agent.Auditor: Append returns once the record is fsynced to the outbox
// file.
//
// In memory each record is also marked "sent" once the broker PUBACKed it
// (MarkSent); Unsent returns what is still to be published and Resend
// marks everything unsent again, for the link's resend rounds.
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
	damaged  int // lines skipped when the file was opened
	// witnessed is the highest chain head the hub acknowledged having
	// verified (nil: none), persisted in witnessPath.
	witnessed *agent.ChainHead
	// high is the highest seq ever queued (persisted by the add lines and,
	// across compaction, by a seq line): chain records after it are not in
	// the outbox (Backfill).
	high uint64

	wake    chan struct{} // records were queued (or marked unsent)
	changed chan struct{} // the number of pending records changed
	acked   chan struct{} // the hub acknowledged a record
}

type pendingRec struct {
	rec  agent.AuditRecord
	size int
	sent bool // PUBACKed in this process, waiting for the hub's ack
}

// Overflow counts records the outbox could not hold.
type Overflow struct {
	Count int       `json:"count"`
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
}

// OutboxStats is the outbox's state, published in the status.
type OutboxStats struct {
	Pending  int `json:"pending"` // records the hub has not acknowledged
	Bytes    int `json:"bytes"`
	Overflow int `json:"overflow"` // records not yet reported by an outbox_overflow record
	// Oldest is the time of the oldest pending record.
	Oldest time.Time `json:"oldest,omitzero"`
	// Witnessed is the last chain head the hub acknowledged having
	// verified (docs/audit.md, "Hub witness").
	Witnessed *agent.ChainHead `json:"witnessed,omitempty"`
}

type outboxLine struct {
	Add      *agent.AuditRecord `json:"add,omitempty"`
	Ack      string             `json:"ack,omitempty"`
	Overflow *Overflow          `json:"overflow,omitempty"`
	// Seq is the highest chain seq ever queued (written at compaction).
	Seq uint64 `json:"seq,omitempty"`
}

// OpenOutbox opens (creating) the outbox at path and replays it.
func OpenOutbox(path string, opts OutboxOptions) (*Outbox, error) {
	o := newOutbox(path, opts)
	if err := o.replay(); err != nil {
		return nil, err
	}
	o.loadWitness()
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

// newOutbox returns an outbox with no file yet (replay and compactLocked
// open it).
func newOutbox(path string, opts OutboxOptions) *Outbox {
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
	return &Outbox{opts: opts, log: opts.Logger, path: path, wake: make(chan struct{}, 1),
		changed: make(chan struct{}, 1), acked: make(chan struct{}, 1)}
}

// maxOutboxFile bounds what replay reads: far above what MaxRecords of
// MaxBytes and their ack lines take, far below what could hurt a Pi.
const maxOutboxFile = 256 << 20

// replay reads the log. Only a regular file is read (a FIFO or a device in
// its place is an error, never a hang or an endless read), at most
// maxOutboxFile bytes of it; a damaged line is counted (and reported as
// overflow), never fatal for the lines after it.
func (o *Outbox) replay() error {
	f, err := firmware.OpenRegular(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit outbox: %w", err)
	}
	defer f.Close()
	damaged, err := o.replayFrom(io.LimitReader(f, maxOutboxFile))
	if err != nil {
		return fmt.Errorf("audit outbox: %s: %w", o.path, err)
	}
	if damaged > 0 {
		o.log.Error("audit outbox: damaged lines skipped; counted as not forwarded", "lines", damaged, "path", o.path)
		o.damaged = damaged
		now := o.opts.Now()
		o.overflow.Count += damaged
		if o.overflow.First.IsZero() {
			o.overflow.First = now
		}
		o.overflow.Last = now
	}
	return nil
}

// replayFrom applies the log lines of r and returns how many were damaged.
func (o *Outbox) replayFrom(r io.Reader) (damaged int, err error) {
	br := bufio.NewReaderSize(r, maxOutboxLine)
	byID := map[string]bool{}
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than any record we write: skip it whole.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			damaged++
			if err == io.EOF {
				return damaged, nil
			}
			if err != nil {
				return damaged, err
			}
			continue
		}
		if len(line) == 0 && err == io.EOF {
			return damaged, nil
		}
		if err != nil && err != io.EOF {
			return damaged, err
		}
		last := err == io.EOF // no newline: the last write may be cut short
		var l outboxLine
		if jerr := firmware.DecodeJSON(bytes.TrimSpace(line), &l); jerr != nil {
			if last {
				return damaged, nil // a torn final write: its Append reported an error
			}
			damaged++
			o.log.Error("audit outbox: damaged line skipped", "line", lineNo, "err", jerr)
			continue
		}
		switch {
		case l.Seq != 0 && l.Add == nil && l.Ack == "" && l.Overflow == nil:
			o.high = max(o.high, l.Seq)
		case l.Add != nil && l.Ack == "" && l.Overflow == nil && l.Seq == 0:
			if l.Add.ID == "" || byID[l.Add.ID] || o.fullLocked(0) {
				damaged++
				break
			}
			byID[l.Add.ID] = true
			o.pushLocked(*l.Add)
		case l.Ack != "" && l.Add == nil && l.Overflow == nil && l.Seq == 0:
			o.removeLocked(l.Ack)
		case l.Overflow != nil && l.Add == nil && l.Ack == "" && l.Seq == 0:
			o.overflow = *l.Overflow
		default:
			damaged++
		}
		if last {
			return damaged, nil
		}
	}
}

func (o *Outbox) pushLocked(rec agent.AuditRecord) {
	o.high = max(o.high, rec.Seq)
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
	poke(o.changed)
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
	poke(o.changed)
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

// Unsent returns up to n of the oldest pending records not marked sent.
func (o *Outbox) Unsent(n int) []agent.AuditRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []agent.AuditRecord
	for _, p := range o.pending {
		if len(out) == n {
			break
		}
		if !p.sent {
			out = append(out, p.rec)
		}
	}
	return out
}

// MarkSent marks the record id as published (the broker PUBACKed it): it
// waits for the hub's acknowledgement and Unsent skips it until Resend.
func (o *Outbox) MarkSent(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.pending {
		if o.pending[i].rec.ID == id {
			o.pending[i].sent = true
			return
		}
	}
}

// Resend marks every pending record unsent, so that the link publishes
// them again, and returns how many there are.
func (o *Outbox) Resend() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.pending {
		o.pending[i].sent = false
	}
	if len(o.pending) > 0 {
		o.signal()
	}
	return len(o.pending)
}

// AwaitingAck reports whether some record was sent and is still waiting
// for the hub's acknowledgement.
func (o *Outbox) AwaitingAck() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.pending {
		if p.sent {
			return true
		}
	}
	return false
}

// Ack removes the record id once the hub acknowledged it. Unknown ids (a
// duplicate acknowledgement, a record acknowledged before a restart) are
// ignored.
func (o *Outbox) Ack(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("audit outbox: closed")
	}
	if !o.removeLocked(id) {
		return nil
	}
	poke(o.changed)
	poke(o.acked)
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

// compactedLocked returns the compacted log: the pending records and the
// overflow counter.
func (o *Outbox) compactedLocked() *bytes.Buffer {
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
	if o.high > 0 {
		b, _ := json.Marshal(outboxLine{Seq: o.high})
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return &buf
}

// compactLocked rewrites the file with only the pending records and the
// overflow counter, atomically (temp file, fsync, rename, fsync dir).
func (o *Outbox) compactLocked() error {
	buf := o.compactedLocked()
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
	st := OutboxStats{Pending: len(o.pending), Bytes: o.bytes, Overflow: o.overflow.Count}
	if o.witnessed != nil {
		w := *o.witnessed
		st.Witnessed = &w
	}
	if len(o.pending) > 0 {
		st.Oldest = o.pending[0].rec.Time
	}
	return st
}

// witnessPath is where the last witnessed head is kept: next to the outbox.
func (o *Outbox) witnessPath() string {
	return filepath.Join(filepath.Dir(o.path), "audit-witness.json")
}

// loadWitness reads the persisted witnessed head; a missing file is none,
// a bad one is logged and treated as none (the next ack sets it again).
func (o *Outbox) loadWitness() {
	data, err := firmware.ReadFile(o.witnessPath(), firmware.MaxStateFileSize)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var h agent.ChainHead
	if err == nil {
		err = firmware.DecodeJSON(data, &h)
	}
	if err == nil {
		err = checkHead(h)
	}
	if err != nil {
		o.log.Error("audit: witnessed head unreadable; ignored", "path", o.witnessPath(), "err", err)
		return
	}
	o.witnessed = &h
}

// Witness keeps h, the chain head the hub says it has verified its copy
// up to, if it is beyond the one kept: persisted before it is shown. A
// different hash for the seq already witnessed is an error (the hub's copy
// and this node's disagree) and changes nothing.
func (o *Outbox) Witness(h agent.ChainHead) error {
	if err := checkHead(h); err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if w := o.witnessed; w != nil {
		if h.Seq == w.Seq && h.Hash != w.Hash {
			return fmt.Errorf("audit witness: the hub witnessed seq %d with hash %s, it witnessed %s before", h.Seq, h.Hash, w.Hash)
		}
		if h.Seq <= w.Seq {
			return nil
		}
	}
	b, _ := json.Marshal(h)
	if err := agent.WriteFileAtomic(o.witnessPath(), b, 0o600); err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	o.witnessed = &h
	poke(o.changed)
	return nil
}

// Damaged returns how many lines of the file were damaged when it was
// opened (they are counted as overflow, and reported).
func (o *Outbox) Damaged() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.damaged
}

// Wake receives a value when records were queued.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }

// Changed receives a value when the number of pending records changed.
func (o *Outbox) Changed() <-chan struct{} { return o.changed }

// Acked receives a value when the hub acknowledged a record.
func (o *Outbox) Acked() <-chan struct{} { return o.acked }

func (o *Outbox) signal() { poke(o.wake) }

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
