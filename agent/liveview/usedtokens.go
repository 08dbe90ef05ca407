// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/firmware"
)

// UsedTokensFile is the name of the used-token file in a node's state
// directory (Config.UsedTokensPath).
const UsedTokensFile = "liveview-used-tokens.json"

// usedTokensFile is the token.Store of a node: the used token ids (hashed,
// see token.usedKey) with their expiry, in the state directory, so that a
// token that opened a session cannot open another after a restart.
//
// It is read with firmware.ReadFile (regular file, capped at
// firmware.MaxStateFileSize: token.MaxUsed entries take under 50 KiB) and
// firmware.DecodeJSON, and written atomically (agent.WriteFileAtomic). A
// missing file is an empty set (first boot). Any other failure to read it
// refuses every token until the file is readable again (a replay could not
// be refused): New logs it as an error, and offers get 503 with the cause.
type usedTokensFile struct{ path string }

// usedTokensDoc is the file's format.
type usedTokensDoc struct {
	Version int              `json:"version"`
	Used    map[string]int64 `json:"used"` // key -> expiry, Unix seconds
}

const usedTokensVersion = 1

func (f usedTokensFile) Load() (map[string]time.Time, error) {
	b, err := firmware.ReadFile(f.path, firmware.MaxStateFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]time.Time{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("used-token file: %w", err)
	}
	var d usedTokensDoc
	if err := firmware.DecodeJSON(b, &d); err != nil {
		return nil, fmt.Errorf("used-token file %s: %w", f.path, err)
	}
	if d.Version != usedTokensVersion {
		return nil, fmt.Errorf("used-token file %s: version %d, want %d", f.path, d.Version, usedTokensVersion)
	}
	if len(d.Used) > token.MaxUsed {
		return nil, fmt.Errorf("used-token file %s: %d entries, at most %d", f.path, len(d.Used), token.MaxUsed)
	}
	out := make(map[string]time.Time, len(d.Used))
	for k, exp := range d.Used {
		if !validUsedKey(k) {
			return nil, fmt.Errorf("used-token file %s: bad entry %.40q", f.path, k)
		}
		out[k] = time.Unix(exp, 0)
	}
	return out, nil
}

// validUsedKey: 32 lowercase hex digits, as token.usedKey writes.
func validUsedKey(k string) bool {
	if len(k) != 32 {
		return false
	}
	for _, c := range []byte(k) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (f usedTokensFile) Save(used map[string]time.Time) error {
	d := usedTokensDoc{Version: usedTokensVersion, Used: make(map[string]int64, len(used))}
	for k, exp := range used {
		d.Used[k] = exp.Unix()
	}
	b, err := json.Marshal(d) // map keys sorted: the file is deterministic
	if err != nil {
		return err
	}
	return agent.WriteFileAtomic(f.path, b, 0o600)
}
