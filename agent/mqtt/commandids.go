// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// CommandIDsFile is the file, in the node's state dir, that remembers the
// ids of the commands the node has executed (see commandIDs).
const CommandIDsFile = "mqtt-command-ids.json"

// Bounds of the command id memory. An id is kept while a command with it
// could still be fresh (issued_at + MaxCommandAge), so at most two minutes;
// a hub that sends more than maxRememberedIDs commands in that time gets
// "busy" for "privacy off" until ids expire ("privacy on" is executed
// anyway: it is always safe to repeat).
const (
	maxRememberedIDs = 256
	maxStoredReason  = 200 // bytes of a result's reason kept for a repeat
)

// resultPending marks an id whose "privacy off" was being executed: it is
// recorded before the change, so that a crash in between still refuses a
// replay. Read back after a restart it becomes an "error" result.
const resultPending = "pending"

var (
	errIDsFull   = errors.New("too many commands in the last two minutes to remember another id")
	errIDsBroken = errors.New("the command id memory is unusable")
)

// idEntry is one remembered command id and its first result.
type idEntry struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"` // issued_at + MaxCommandAge: after that a replay is stale anyway
	Result  string    `json:"result"`  // accepted, refused, error, or pending
	Reason  string    `json:"reason,omitempty"`
}

type idFile struct {
	Version int       `json:"version"`
	IDs     []idEntry `json:"ids"`
}

// commandIDs remembers executed command ids, persisted in a file of the
// state dir (read with firmware.ReadFile, written atomically), bounded in
// count (maxRememberedIDs) and size (firmware.MaxStateFileSize), each for
// the freshness window of its command. It belongs to the link's command
// worker (no locking).
//
// A file that cannot be read or decoded is not trusted and not thrown away
// at once: the ids it held may belong to commands that are still fresh. The
// memory is then "broken": "privacy off" is refused until every command the
// lost file could have held is stale (2 x MaxCommandAge after the failure,
// by the node's clock), then a new, empty file replaces it. A file that
// cannot be written keeps it broken. "privacy on" is always executed: a
// replayed "on" cannot turn a camera on.
type commandIDs struct {
	path     string // "" = in memory only
	ids      []idEntry
	broken   error
	brokenAt time.Time
}

// openCommandIDs loads the memory from path ("" = memory only) at now.
func openCommandIDs(path string, now time.Time) *commandIDs {
	s := &commandIDs{path: path}
	if path == "" {
		return s
	}
	data, err := firmware.ReadFile(path, firmware.MaxStateFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return s
	}
	if err == nil {
		var f idFile
		if err = firmware.DecodeJSON(data, &f); err == nil {
			err = f.check()
		}
		if err == nil {
			s.ids = f.IDs
		}
	}
	if err != nil {
		s.broken, s.brokenAt = fmt.Errorf("command ids %s: %w", path, err), now
		return s
	}
	for i := range s.ids {
		if s.ids[i].Result == resultPending {
			s.ids[i].Result = ResultError
			s.ids[i].Reason = "the node stopped while executing this command; it is not executed again"
		}
	}
	return s
}

func (f idFile) check() error {
	if f.Version != 1 {
		return fmt.Errorf("version %d, want 1", f.Version)
	}
	if len(f.IDs) > maxRememberedIDs {
		return fmt.Errorf("%d ids, at most %d", len(f.IDs), maxRememberedIDs)
	}
	seen := make(map[string]bool, len(f.IDs))
	for _, e := range f.IDs {
		if !cmdIDRe.MatchString(e.ID) || seen[e.ID] {
			return fmt.Errorf("bad or repeated id %q", trunc(e.ID))
		}
		seen[e.ID] = true
		switch e.Result {
		case ResultAccepted, ResultRefused, ResultError, resultPending:
		default:
			return fmt.Errorf("id %q: bad result %q", e.ID, trunc(e.Result))
		}
	}
	return nil
}

// usable says whether an id can be recorded now: nil, or why not.
func (s *commandIDs) usable(now time.Time) error {
	if s.broken == nil {
		return nil
	}
	if now.Sub(s.brokenAt) < 2*MaxCommandAge {
		return fmt.Errorf("%w (%v); until %s", errIDsBroken, s.broken, s.brokenAt.Add(2*MaxCommandAge).Format(time.RFC3339))
	}
	// Every id the lost file could have held belongs to a stale command
	// now: start afresh, if the file can be written.
	if err := s.write(nil); err != nil {
		return fmt.Errorf("%w (%v)", errIDsBroken, err)
	}
	s.ids, s.broken = nil, nil
	return nil
}

// lookup returns the first result recorded for id, if it is remembered.
func (s *commandIDs) lookup(id string, now time.Time) (idEntry, bool) {
	for _, e := range s.ids {
		if e.ID == id && !now.After(e.Expires) {
			return e, true
		}
	}
	return idEntry{}, false
}

// record remembers e (replacing an entry with its id) and persists the
// memory. It fails, changing nothing, when the memory is broken, full, or
// cannot be written.
func (s *commandIDs) record(e idEntry, now time.Time) error {
	if err := s.usable(now); err != nil {
		return err
	}
	e.Reason = truncUTF8(e.Reason, maxStoredReason)
	next := slices.DeleteFunc(slices.Clone(s.ids), func(o idEntry) bool { return o.ID == e.ID || now.After(o.Expires) })
	next = append(next, e)
	if len(next) > maxRememberedIDs {
		return errIDsFull
	}
	if err := s.write(next); err != nil {
		return err
	}
	s.ids = next
	return nil
}

func (s *commandIDs) write(ids []idEntry) error {
	if s.path == "" {
		return nil
	}
	if ids == nil {
		ids = []idEntry{}
	}
	b, err := json.Marshal(idFile{Version: 1, IDs: ids})
	if err != nil {
		return err
	}
	if len(b)+1 > firmware.MaxStateFileSize {
		return errIDsFull
	}
	return agent.WriteFileAtomic(s.path, append(b, '\n'), 0o600)
}

// truncUTF8 cuts s to at most n bytes on a rune boundary.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
