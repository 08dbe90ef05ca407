// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/camnode/camnode/firmware"
)

// Rotation (docs/audit.md, "Retention"): audit.jsonl is renamed
// audit-<seq of its first record, 20 digits>.jsonl and the chain goes on
// in a new audit.jsonl: its first record's prev is the hash of the rotated
// file's last line, as if nothing happened. The names sort in chain order;
// reading the files in that order, the current one last, gives the trail.

// KindRetention is the kind of the record that says which rotated file
// retention deleted and why that lost nothing the hub lacks.
const KindRetention = "audit_retention"

const (
	rotatedPrefix = "audit-"
	rotatedSuffix = ".jsonl"
	// CurrentAuditFile is the file the chain is written to.
	CurrentAuditFile = "audit.jsonl"
)

// rotatedName is the name of a rotated file whose first record has seq.
func rotatedName(seq uint64) string {
	return fmt.Sprintf("%s%020d%s", rotatedPrefix, seq, rotatedSuffix)
}

// rotatedSeq returns the first seq a rotated file's name gives.
func rotatedSeq(name string) (uint64, bool) {
	if !strings.HasPrefix(name, rotatedPrefix) || !strings.HasSuffix(name, rotatedSuffix) {
		return 0, false
	}
	digits, _, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(name, rotatedPrefix), rotatedSuffix), "-")
	if len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// AuditFiles returns the audit trail files of a state directory in chain
// order: the rotated ones, then audit.jsonl (if present). Only regular
// files are listed.
func AuditFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var rotated []string
	current := false
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if _, ok := rotatedSeq(e.Name()); ok {
			rotated = append(rotated, e.Name())
		} else if e.Name() == CurrentAuditFile {
			current = true
		}
	}
	sort.Strings(rotated)
	var out []string
	for _, n := range rotated {
		out = append(out, filepath.Join(dir, n))
	}
	if current {
		out = append(out, filepath.Join(dir, CurrentAuditFile))
	}
	return out, nil
}

// OpenAuditTrail opens the trail of a state directory (AuditFiles) as one
// stream, for verifying and exporting. Close closes every file.
func OpenAuditTrail(dir string) (io.ReadCloser, []string, error) {
	names, err := AuditFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("%s: no %s: %w", dir, CurrentAuditFile, os.ErrNotExist)
	}
	var files multiCloser
	var rs []io.Reader
	for _, n := range names {
		f, err := firmware.OpenRegular(n)
		if err != nil {
			files.Close()
			return nil, nil, err
		}
		files = append(files, f)
		rs = append(rs, f)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(rs...), files}, names, nil
}

type multiCloser []*os.File

func (m multiCloser) Close() error {
	var errs []error
	for _, f := range m {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// lastRotatedHead returns the head of the newest rotated file in dir (ok
// false: there is none): used when audit.jsonl is empty or missing, e.g.
// after a crash between a rotation's rename and the new file's creation.
func lastRotatedHead(dir string) (ChainHead, bool, error) {
	names, err := AuditFiles(dir)
	if err != nil {
		return ChainHead{}, false, err
	}
	var last string
	for _, n := range names {
		if filepath.Base(n) != CurrentAuditFile {
			last = n
		}
	}
	if last == "" {
		return ChainHead{}, false, nil
	}
	f, err := firmware.OpenRegular(last)
	if err != nil {
		return ChainHead{}, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ChainHead{}, false, err
	}
	n := min(fi.Size(), 2*MaxAuditLine+2)
	tail := make([]byte, n)
	if _, err := f.ReadAt(tail, fi.Size()-n); err != nil && !errors.Is(err, io.EOF) {
		return ChainHead{}, false, err
	}
	lines := bytes.Split(bytes.TrimSuffix(tail, []byte{'\n'}), []byte{'\n'})
	line := lines[len(lines)-1]
	var r AuditRecord
	if err := firmware.DecodeJSON(line, &r); err != nil || r.Seq == 0 {
		return ChainHead{}, false, fmt.Errorf("%s: the last line is not a chained record (%v): cannot continue the chain", last, err)
	}
	return ChainHead{Seq: r.Seq, Hash: LineHash(line)}, true, nil
}

// firstRecord reads the current file's first record (its seq names the
// file when it is rotated; its time starts the rotation age).
func (a *FileAuditor) firstRecord() {
	buf := make([]byte, min(a.size, MaxAuditLine+1))
	if _, err := a.f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	line, _, _ := bytes.Cut(buf, []byte{'\n'})
	var r AuditRecord
	if firmware.DecodeJSON(line, &r) == nil {
		a.fileFirst, a.fileStart = r.Seq, r.Time
	}
}

// rotationDue reports whether the current file should be rotated now.
func (a *FileAuditor) rotationDue() bool {
	o := a.opts
	return a.size > 0 && ((o.RotateSize > 0 && a.size >= o.RotateSize) ||
		(o.RotateAge > 0 && !a.fileStart.IsZero() && o.Now().Sub(a.fileStart) >= o.RotateAge))
}

// maybeRotateLocked rotates the current file when it is due, after a
// checkpoint that signs it to its end, then applies retention. A failure
// is logged and tried again at the next record: the records are durable
// either way.
func (a *FileAuditor) maybeRotateLocked() {
	if a.closed || !a.rotationDue() {
		return
	}
	if a.opts.Key != nil && a.sinceCP > 0 {
		if err := a.checkpointLocked(); err != nil {
			a.log.Error("audit: checkpoint before rotating", "err", err)
			return
		}
	}
	if err := a.rotateLocked(); err != nil {
		a.log.Error("audit: rotating the trail; it goes on in the same file", "err", err)
		return
	}
	a.pruneLocked()
}

// rotateLocked renames the current file and opens a new one. If the new
// file cannot be made, the rename is undone.
func (a *FileAuditor) rotateLocked() error {
	dir := filepath.Dir(a.path)
	dst := filepath.Join(dir, rotatedName(a.fileFirst))
	if _, err := os.Lstat(dst); err == nil {
		// Only after damage (a file with an unknown first seq): keep both.
		dst = strings.TrimSuffix(dst, rotatedSuffix) + fmt.Sprintf("-%d", a.opts.Now().UnixNano()) + rotatedSuffix
	}
	if err := os.Rename(a.path, dst); err != nil {
		return err
	}
	f, err := os.OpenFile(a.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL|syscall.O_NOCTTY, 0o600)
	if err != nil {
		if rerr := os.Rename(dst, a.path); rerr != nil {
			// The chain goes on in the renamed file; a restart finds it.
			a.log.Error("audit: undoing a rotation", "err", rerr)
		}
		return err
	}
	syncDir(dir)
	a.f.Close()
	a.f, a.size, a.dirty = f, 0, false
	a.fileFirst, a.fileStart = a.head.Seq+1, time.Time{}
	a.log.Info("audit: trail rotated", "file", dst, "next_seq", a.fileFirst)
	return nil
}

// pruneLocked deletes rotated files, oldest first, while the trail is over
// KeepSize or the file is older than KeepAge, but only a file whose every
// record the hub has witnessed (its last seq at or before the witnessed
// head): nothing the hub lacks is ever deleted. Each deletion is recorded.
func (a *FileAuditor) pruneLocked() {
	o := a.opts
	if o.Witnessed == nil || (o.KeepSize <= 0 && o.KeepAge <= 0) {
		return
	}
	w := o.Witnessed()
	if w == nil {
		return
	}
	names, err := AuditFiles(filepath.Dir(a.path))
	if err != nil {
		a.log.Error("audit: retention", "err", err)
		return
	}
	type rotated struct {
		path  string
		first uint64
		size  int64
		mod   time.Time
	}
	var files []rotated
	total := a.size
	for _, n := range names {
		if filepath.Base(n) == CurrentAuditFile {
			continue
		}
		first, _ := rotatedSeq(filepath.Base(n))
		fi, err := os.Lstat(n)
		if err != nil {
			continue
		}
		files = append(files, rotated{n, first, fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	now := o.Now()
	for i, f := range files {
		next := a.fileFirst
		if i+1 < len(files) {
			next = files[i+1].first
		}
		over := o.KeepSize > 0 && total > o.KeepSize
		old := o.KeepAge > 0 && now.Sub(f.mod) > o.KeepAge
		if !over && !old {
			return
		}
		if next == 0 || next-1 > w.Seq {
			return // the hub has not witnessed all of it: keep it and everything after
		}
		if err := os.Remove(f.path); err != nil {
			a.log.Error("audit: retention", "err", err)
			return
		}
		syncDir(filepath.Dir(f.path))
		total -= f.size
		why := "over audit.keep_size"
		if !over {
			why = "older than audit.keep_age"
		}
		if err := a.appendLocked(AuditRecord{ID: NewAuditID(), Time: now, Node: o.Node, Kind: KindRetention, Source: SourceAgent,
			Reason: fmt.Sprintf("deleted %s (%d bytes, %s): records %d to %d, all witnessed by the hub (its head: seq %d)",
				filepath.Base(f.path), f.size, why, f.first, next-1, w.Seq)}); err != nil {
			a.log.Error("audit: recording a retention deletion", "err", err)
		}
	}
}

// syncDir fsyncs a directory, so a rename or a new file survives a crash.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ReadAuditFrom calls fn, in chain order, for every record of the trail
// in dir (rotated files and audit.jsonl) whose seq is at least from. Only
// the files that can hold such records are read. Lines that do not decode
// (damage, a torn final line) are skipped: the verifier reports them.
func ReadAuditFrom(dir string, from uint64, fn func(AuditRecord) error) error {
	names, err := AuditFiles(dir)
	if err != nil {
		return err
	}
	start := 0
	for i, n := range names {
		if seq, ok := rotatedSeq(filepath.Base(n)); ok && seq <= from {
			start = i
		}
	}
	for _, n := range names[start:] {
		if err := readRecords(n, from, fn); err != nil {
			return err
		}
	}
	return nil
}

func readRecords(path string, from uint64, fn func(AuditRecord) error) error {
	f, err := firmware.OpenRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, MaxAuditLine+1)
	for {
		line, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) { // not a record: skip it whole
			line, err = nil, nil
			_, err = br.ReadSlice('\n')
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var r AuditRecord
			if firmware.DecodeJSON(line[:len(line)-1], &r) == nil && r.Seq >= from {
				if ferr := fn(r); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}
