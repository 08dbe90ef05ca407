// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/camnode/camnode/firmware"
)

// persisted is the privacy mode file. A missing file means first boot; any
// other problem means "privacy on" (invariant 5).
type persisted struct {
	Version int  `json:"version"`
	Private bool `json:"private"`
}

// modeFile returns the exact bytes SaveMode writes for a mode. LoadMode
// accepts nothing else: the file is ours, so anything that differs from
// what the agent writes (hand-edited, truncated, an older or newer format,
// a key in another case, a key twice, a decision missing or null) is not a
// decision, and the node stays private with a fault.
func modeFile(private bool) []byte {
	// Written out rather than marshalled, so that no library change can
	// alter the one accepted form.
	return fmt.Appendf(nil, "{\"version\":1,\"private\":%v}\n", private)
}

// LoadMode reads the persisted privacy mode. It returns found=false when the
// file does not exist (first boot). Any error leaves private=true: an
// unreadable, truncated or unknown file never turns the camera on. Only the
// exact file SaveMode writes for "privacy off" yields private=false. The
// file is read with firmware.ReadFile: a device, FIFO or oversized file is
// an error, never a hang or an allocation of its size.
func LoadMode(path string) (private, found bool, err error) {
	data, err := firmware.ReadFile(path, firmware.MaxStateFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return true, false, nil
	}
	if err != nil {
		return true, true, fmt.Errorf("state: %w", err)
	}
	switch {
	case bytes.Equal(data, modeFile(false)):
		return false, true, nil
	case bytes.Equal(data, modeFile(true)):
		return true, true, nil
	}
	// Not a file the agent wrote: say what is wrong with it.
	var p persisted
	if err := firmware.DecodeJSON(data, &p); err != nil {
		return true, true, fmt.Errorf("state: %s: %w", path, err)
	}
	if p.Version != 1 {
		return true, true, fmt.Errorf("state: %s: version %d, want 1", path, p.Version)
	}
	return true, true, fmt.Errorf("state: %s: not the file camnode writes (want exactly %q)", path, modeFile(p.Private))
}

// SaveMode writes the privacy mode atomically: temporary file, fsync,
// rename, fsync of the directory. A crash at any point leaves either the old
// or the new file, never a torn one.
func SaveMode(path string, private bool) error {
	return WriteFileAtomic(path, modeFile(private), 0o600)
}

// WriteFileAtomic replaces path with data durably.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("state: sync %s: %w", dir, err)
	}
	return nil
}
