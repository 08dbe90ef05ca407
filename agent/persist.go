// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"encoding/json"
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

// LoadMode reads the persisted privacy mode. It returns found=false when the
// file does not exist (first boot). Any error leaves private=true: an
// unreadable, truncated or unknown file never turns the camera on.
func LoadMode(path string) (private, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, false, nil
	}
	if err != nil {
		return true, true, fmt.Errorf("state: %w", err)
	}
	var p persisted
	if err := firmware.DecodeJSON(data, &p); err != nil {
		return true, true, fmt.Errorf("state: %s: %w", path, err)
	}
	if p.Version != 1 {
		return true, true, fmt.Errorf("state: %s: version %d, want 1", path, p.Version)
	}
	return p.Private, true, nil
}

// SaveMode writes the privacy mode atomically: temporary file, fsync,
// rename, fsync of the directory. A crash at any point leaves either the old
// or the new file, never a torn one.
func SaveMode(path string, private bool) error {
	data, err := json.Marshal(persisted{Version: 1, Private: private})
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o600)
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
