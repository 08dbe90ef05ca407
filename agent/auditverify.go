// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/camnode/camnode/firmware"
)

// VerifyOptions is what a verifier trusts (docs/audit.md, "Verifying").
type VerifyOptions struct {
	// Identity is the node's signed identity file. Without it only the
	// links are checked: the trail is not anchored, checkpoints are not
	// checked.
	Identity []byte
	// InstallerKeys verify Identity.
	InstallerKeys []ed25519.PublicKey
	// Partial accepts a trail that starts after seq 1 (an exported
	// range): its first record's link cannot be checked, and only what a
	// checkpoint covers is authenticated.
	Partial bool
	// Witness is a head the hub acknowledged (and so holds a copy of):
	// the trail must contain that exact record.
	Witness *ChainHead
}

// VerifyReport describes a trail that verified (or how far it did).
type VerifyReport struct {
	Node        string
	Records     int    // chained records
	First, Last uint64 // seq range
	Head        string // LineHash of the last record
	Checkpoints int
	// Signed is the seq of the last record a valid checkpoint covers (0:
	// none). Records after it are not signed: removing them is not
	// detectable from this file alone.
	Signed  uint64
	Legacy  int // records before the chain began (no seq), not chained
	Anchor  string
	Warning []string
	// Sessions counts session start records (view_start,
	// recording_start); Unended those without their end record (each is
	// also a Warning that says what its absence means).
	Sessions, Unended int
}

// maxOpenSessions bounds the session starts VerifyAudit remembers while
// it looks for their ends (memory stays bounded on any input); starts
// beyond it are counted, not paired.
const maxOpenSessions = 4096

// openSessions pairs session start records with their end records
// (agent.SessionStartAudit, SessionAudit: the same View.Session).
type openSessions struct {
	open     map[string]openSession
	unpaired int // starts not remembered (over maxOpenSessions)
}

type openSession struct {
	kind  string
	seq   uint64
	actor string
}

// see notes a chained record; a crash or boot record closes the sessions
// still open: the run they belonged to is over.
func (o *openSessions) see(rec *AuditRecord, rep *VerifyReport) {
	switch rec.Kind {
	case KindViewStart, KindRecordingStart:
		rep.Sessions++
		if rec.View == nil {
			return
		}
		if len(o.open) >= maxOpenSessions {
			o.unpaired++
			return
		}
		if o.open == nil {
			o.open = map[string]openSession{}
		}
		o.open[rec.View.Session] = openSession{kind: rec.Kind, seq: rec.Seq, actor: rec.Actor}
	case KindView, KindRecording:
		if rec.View != nil {
			delete(o.open, rec.View.Session)
		}
	case KindCrash:
		o.flush(rep, fmt.Sprintf("the node crashed during it (crash record seq %d)", rec.Seq))
	case KindBoot:
		o.flush(rep, fmt.Sprintf("the node restarted without ending it (boot record seq %d)", rec.Seq))
	}
}

// flush turns every open session into a warning (in the order they
// started) that says why it has no end.
func (o *openSessions) flush(rep *VerifyReport, why string) {
	list := make([]string, 0, len(o.open))
	for id := range o.open {
		list = append(list, id)
	}
	slices.SortFunc(list, func(a, b string) int { return cmp.Compare(o.open[a].seq, o.open[b].seq) })
	for _, id := range list {
		s := o.open[id]
		rep.Unended++
		rep.Warning = append(rep.Warning, fmt.Sprintf("session %s (%s of %q, seq %d) has no end record: %s", id, s.kind, s.actor, s.seq, why))
		delete(o.open, id)
	}
	if o.unpaired > 0 {
		rep.Warning = append(rep.Warning, fmt.Sprintf("%d session start(s) not paired (more than %d sessions open at once)", o.unpaired, maxOpenSessions))
		o.unpaired = 0
	}
}

// VerifyError is the first broken record.
type VerifyError struct {
	Line   int    // 1-based line in the file
	Seq    uint64 // seq of the record (0 if it has none / does not decode)
	Reason string
}

func (e *VerifyError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d (seq %d): %s", e.Line, e.Seq, e.Reason)
}

// VerifyAudit checks a trail read from r: every line a strict record of
// the identity's node, seq increasing by one, prev the hash of the line
// before (seq 1: the identity anchor), every checkpoint signed by the
// identity's audit key over the head before it, the witnessed head
// present. It returns the first broken record as a *VerifyError. It reads
// r once, line by line, with bounded memory, and never panics on input.
func VerifyAudit(r io.Reader, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	var auditKey ed25519.PublicKey
	if opts.Identity != nil {
		id, err := firmware.VerifyIdentity(opts.Identity, opts.InstallerKeys)
		if err != nil {
			return rep, fmt.Errorf("identity: %w", err)
		}
		rep.Node = id.NodeID
		if rep.Anchor, err = firmware.IdentityAnchor(opts.Identity); err != nil {
			return rep, err
		}
		if id.AuditKey != "" {
			if auditKey, err = firmware.DecodePublicKey(id.AuditKey); err != nil {
				return rep, fmt.Errorf("identity: audit_key: %w", err)
			}
		} else {
			rep.Warning = append(rep.Warning, "the identity has no audit_key: checkpoints cannot be checked and the trail is not signed")
		}
	} else {
		rep.Warning = append(rep.Warning, "no identity given: the trail is not anchored and checkpoints are not checked")
	}
	br := bufio.NewReaderSize(r, MaxAuditLine+1)
	var prevLine []byte
	prevHash := ""
	lineNo := 0
	fail := func(seq uint64, format string, a ...any) (VerifyReport, error) {
		return rep, &VerifyError{Line: lineNo, Seq: seq, Reason: fmt.Sprintf(format, a...)}
	}
	witnessed := false
	var sessions openSessions
	for {
		line, err := br.ReadSlice('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		lineNo++
		if errors.Is(err, bufio.ErrBufferFull) {
			return fail(0, "line longer than %d bytes: not a record", MaxAuditLine)
		}
		if err != nil && err != io.EOF {
			return rep, err
		}
		torn := err == io.EOF // no newline
		line = bytes.TrimSuffix(line, []byte{'\n'})
		var rec AuditRecord
		if derr := firmware.DecodeJSON(line, &rec); derr != nil {
			if torn {
				rep.Warning = append(rep.Warning, fmt.Sprintf("line %d: torn final line ignored (a write cut short; the node removes it at its next start)", lineNo))
				break
			}
			return fail(0, "not an audit record: %v", derr)
		}
		if torn {
			rep.Warning = append(rep.Warning, fmt.Sprintf("line %d: final line has no newline (a write cut short?)", lineNo))
		}
		if rec.Seq == 0 {
			if rep.Records > 0 {
				return fail(0, "record without seq inside the chain (inserted?)")
			}
			rep.Legacy++
			prevLine = append(prevLine[:0], line...)
			continue
		}
		if rep.Node == "" {
			rep.Node = rec.Node
		}
		if rec.Node != rep.Node {
			return fail(rec.Seq, "record of node %q in the trail of node %q (another node's records swapped in)", rec.Node, rep.Node)
		}
		switch {
		case rep.Records == 0 && rec.Seq == 1:
			want := rep.Anchor
			if rep.Legacy > 0 {
				want = LineHash(prevLine)
			}
			if want != "" && rec.Prev != want {
				if rep.Legacy > 0 {
					return fail(rec.Seq, "prev does not match the hash of the last record before the chain began")
				}
				return fail(rec.Seq, "first record does not chain to this identity (prev %s, identity anchor %s): a trail of another identity or node", short(rec.Prev), short(want))
			}
		case rep.Records == 0:
			if !opts.Partial {
				return fail(rec.Seq, "trail starts at seq %d, not 1: records 1 to %d are missing (use -partial for an exported range)", rec.Seq, rec.Seq-1)
			}
			rep.Warning = append(rep.Warning, fmt.Sprintf("partial trail: starts at seq %d; its link to seq %d is not checked", rec.Seq, rec.Seq-1))
		case rec.Seq <= rep.Last:
			return fail(rec.Seq, "seq %d after seq %d: records reordered, duplicated or replayed", rec.Seq, rep.Last)
		case rec.Seq > rep.Last+1:
			if later := findSeq(br, rep.Last+1); later > 0 {
				return fail(rec.Seq, "seq %d follows seq %d: records out of order (seq %d comes %d line(s) later)", rec.Seq, rep.Last, rep.Last+1, later)
			}
			return fail(rec.Seq, "sequence gap: seq %d follows seq %d: %d record(s) deleted", rec.Seq, rep.Last, rec.Seq-rep.Last-1)
		default:
			if rec.Prev != prevHash {
				return fail(rec.Seq, "prev does not match the hash of the record before it (seq %d, line %d): that record was modified, or this one forged", rep.Last, lineNo-1)
			}
		}
		hash := LineHash(line)
		if rec.Kind == KindCheckpoint || rec.Checkpoint != nil {
			if reason := checkCheckpoint(rec, rep.Node, auditKey); reason != "" {
				return fail(rec.Seq, "%s", reason)
			}
			rep.Checkpoints++
			if auditKey != nil {
				rep.Signed = rec.Seq
			}
		}
		if w := opts.Witness; w != nil && rec.Seq == w.Seq {
			if hash != w.Hash {
				return fail(rec.Seq, "differs from the head the hub witnessed (hash %s, witnessed %s): the trail was rewritten after the hub saw it", short(hash), short(w.Hash))
			}
			witnessed = true
		}
		sessions.see(&rec, &rep)
		if rep.Records == 0 {
			rep.First = rec.Seq
		}
		rep.Records++
		rep.Last, rep.Head, prevHash = rec.Seq, hash, hash
		prevLine = append(prevLine[:0], line...)
	}
	if w := opts.Witness; w != nil && !witnessed {
		if rep.Records > 0 && w.Seq < rep.First {
			rep.Warning = append(rep.Warning, fmt.Sprintf("the witnessed head (seq %d) is before this trail: not checked", w.Seq))
		} else {
			return rep, &VerifyError{Line: lineNo, Seq: rep.Last, Reason: fmt.Sprintf("trail ends at seq %d but the hub witnessed seq %d: records deleted from the end (or an old file replayed)", rep.Last, w.Seq)}
		}
	}
	if rep.Records == 0 && rep.Legacy == 0 {
		return rep, &VerifyError{Line: lineNo, Reason: "no records"}
	}
	sessions.flush(&rep, "the trail ends during it (still open then, or the node crashed and has not started since)")
	if rep.Last > rep.Signed && auditKey != nil {
		rep.Warning = append(rep.Warning, fmt.Sprintf("records %d to %d are after the last checkpoint: not signed; their removal could not be detected from this file alone", rep.Signed+1, rep.Last))
	}
	return rep, nil
}

// checkCheckpoint returns why a checkpoint record is bad, or "".
func checkCheckpoint(rec AuditRecord, node string, key ed25519.PublicKey) string {
	cp := rec.Checkpoint
	switch {
	case rec.Kind != KindCheckpoint:
		return fmt.Sprintf("a %q record carries a checkpoint", rec.Kind)
	case cp == nil:
		return "checkpoint record without its checkpoint"
	case cp.Node != node:
		return fmt.Sprintf("checkpoint of node %q in the trail of node %q", cp.Node, node)
	case cp.Seq != rec.Seq-1 || cp.Hash != rec.Prev:
		return fmt.Sprintf("checkpoint signs seq %d hash %s, not the record before it (seq %d hash %s)", cp.Seq, short(cp.Hash), rec.Seq-1, short(rec.Prev))
	case key == nil:
		return ""
	case cp.KeyID != firmware.KeyID(key):
		return fmt.Sprintf("checkpoint signed by key %s, not the node's audit key %s", cp.KeyID, firmware.KeyID(key))
	case !ed25519.Verify(key, CheckpointMessage(cp.Node, cp.Seq, cp.Hash, cp.Time), cp.Sig):
		return "checkpoint signature does not verify with the node's audit key (forged or altered)"
	}
	return ""
}

// findSeq reads the rest of br for a record with seq and returns how many
// lines later it is (0: not found).
func findSeq(br *bufio.Reader, seq uint64) int {
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && err != bufio.ErrBufferFull {
			var rec AuditRecord
			if firmware.DecodeJSON(bytes.TrimSpace(line), &rec) == nil && rec.Seq == seq {
				return n
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return 0
		}
	}
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// ChainWitness follows a node's chain record by record, as the hub
// receives it, for the head it acknowledges (docs/audit.md, "Hub witness").
// Head nil: nothing witnessed yet; the first record seen starts the
// witnessed chain (trust on first use: give the hub the head of an earlier
// run to avoid that).
type ChainWitness struct {
	Head *ChainHead
}

// Observe checks one published record. It returns nil and advances Head
// when the record continues the chain, nil for a record already witnessed
// (a resend) with the same bytes, and an error naming the problem otherwise
// (Head stays where it was).
func (w *ChainWitness) Observe(line []byte) error {
	var rec AuditRecord
	if err := firmware.DecodeJSON(line, &rec); err != nil {
		return fmt.Errorf("not an audit record: %w", err)
	}
	if rec.Seq == 0 {
		return errors.New("record without seq: not chained")
	}
	hash := LineHash(line)
	h := w.Head
	switch {
	case h == nil || (rec.Seq == h.Seq+1 && rec.Prev == h.Hash):
		w.Head = &ChainHead{Seq: rec.Seq, Hash: hash}
		return nil
	case rec.Seq == h.Seq && hash == h.Hash, rec.Seq < h.Seq:
		return nil // a resend of a record before the head: already witnessed
	case rec.Seq == h.Seq:
		return fmt.Errorf("seq %d differs from the record witnessed with that seq: the node's chain was rewritten", rec.Seq)
	case rec.Seq == h.Seq+1:
		return fmt.Errorf("seq %d does not chain to the witnessed seq %d: the node's chain was rewritten", rec.Seq, h.Seq)
	default:
		return fmt.Errorf("sequence gap: seq %d after the witnessed seq %d; the head stays until the missing records arrive", rec.Seq, h.Seq)
	}
}
