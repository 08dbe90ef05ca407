// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/camnode/camnode/firmware"
)

// modeCases feeds TestLoadMode, the boot test TestUnreadableStateMeansPrivacy
// and FuzzLoadMode's seeds. Only the exact files SaveMode writes are a
// decision; every other content means privacy on with an error (which the
// agent shows as a persist fault).
var modeCases = []struct {
	name, content string
	private       bool   // what LoadMode must return
	errHas        string // "" = no error
}{
	{"saved off", "{\"version\":1,\"private\":false}\n", false, ""},
	{"saved on", "{\"version\":1,\"private\":true}\n", true, ""},
	// Issue 9 item 1: a file without a decision.
	{"no decision", `{"version":1}`, true, "private: missing"},
	{"null decision", `{"version":1,"private":null}`, true, "private: null"},
	{"no version", `{"private":false}`, true, "version: missing"},
	{"case variants", `{"VERSION":1,"Private":false}`, true, "missing"},
	{"case variant beside the key", `{"version":1,"private":true,"Private":false}`, true, "differ only in case"},
	{"duplicate key", `{"version":1,"private":true,"private":false}`, true, "twice"},
	{"duplicate key, off first", `{"version":1,"private":false,"private":true}`, true, "twice"},
	{"empty", "", true, "EOF"},
	{"truncated", `{"version":1,"priv`, true, "JSON"},
	{"wrong type", `{"version":1,"private":"no"}`, true, "/private"},
	{"number for bool", `{"version":1,"private":0}`, true, "/private"},
	{"version 2", `{"version":2,"private":false}`, true, "version 2"},
	{"version 0", `{"version":0,"private":false}`, true, "version 0"},
	{"extra member", `{"version":1,"private":false,"extra":1}`, true, "unknown field"},
	{"garbage", "\x00\x01garbage", true, "invalid"},
	{"two documents", `{"version":1,"private":false}{}`, true, "trailing data"},
	{"array", `[{"version":1,"private":false}]`, true, "JSON"},
	{"null", `null`, true, "null"},
	// Valid JSON meaning "off", but not the file the agent writes.
	{"no newline", `{"version":1,"private":false}`, true, "not the file camnode writes"},
	{"spaces", `{"version": 1, "private": false}` + "\n", true, "not the file camnode writes"},
	{"reordered", `{"private":false,"version":1}` + "\n", true, "not the file camnode writes"},
	{"two newlines", "{\"version\":1,\"private\":false}\n\n", true, "not the file camnode writes"},
	{"CRLF", "{\"version\":1,\"private\":false}\r\n", true, "not the file camnode writes"},
	{"leading BOM", "\ufeff{\"version\":1,\"private\":false}\n", true, "invalid"},
	{"float version", `{"version":1.0,"private":false}` + "\n", true, "/version"},
	{"too large", "{\"version\":1,\"private\":false}\n" + strings.Repeat(" ", firmware.MaxStateFileSize), true, "too large"},
}

func TestLoadMode(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range modeCases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "privacy.json")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			private, found, err := LoadMode(p)
			if private != tc.private || !found {
				t.Fatalf("LoadMode(%q) = private %v, found %v, %v; want private %v", tc.content, private, found, err, tc.private)
			}
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("LoadMode(%q): %v", tc.content, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("LoadMode(%q) err = %v, want it to contain %q", tc.content, err, tc.errHas)
			}
		})
	}
}

// What SaveMode writes is what LoadMode accepts, and it is what
// encoding/json wrote for older agents, so an upgrade keeps the mode.
func TestSaveModeRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "privacy.json")
	if private, found, err := LoadMode(p); !private || found || err != nil {
		t.Fatalf("missing file: %v %v %v; want private, not found", private, found, err)
	}
	for _, want := range []bool{false, true, false} {
		if err := SaveMode(p, want); err != nil {
			t.Fatal(err)
		}
		got, found, err := LoadMode(p)
		if got != want || !found || err != nil {
			t.Fatalf("SaveMode(%v) then LoadMode = %v, %v, %v", want, got, found, err)
		}
		old, _ := json.Marshal(persisted{Version: 1, Private: want})
		if data, _ := os.ReadFile(p); !bytes.Equal(data, append(old, '\n')) {
			t.Fatalf("file %q differs from what older agents wrote (%q)", data, old)
		}
	}
}

// A state path that is not a regular file is a prompt, clear error and
// privacy on: /dev/zero used to exhaust memory, a FIFO to hang boot (and
// with it the SIGTERM handling).
func TestLoadModeNotARegularFile(t *testing.T) {
	type result struct {
		private, found bool
		err            error
	}
	for kind, p := range firmwaretest.HostilePaths(t, t.TempDir(), ".json") {
		t.Run(kind, func(t *testing.T) {
			r := firmwaretest.NoHang(t, "LoadMode("+kind+")", func() result {
				private, found, err := LoadMode(p)
				return result{private, found, err}
			})
			if !r.private || !r.found || !errors.Is(r.err, firmware.ErrNotRegular) {
				t.Fatalf("LoadMode(%s) = %v, %v, %v; want private with a not-a-regular-file error", kind, r.private, r.found, r.err)
			}
		})
	}
}

// FuzzLoadMode: whatever the file holds, LoadMode never panics, and it says
// "privacy off" only for the exact file SaveMode writes for it.
func FuzzLoadMode(f *testing.F) {
	for _, tc := range modeCases {
		if len(tc.content) < 4096 {
			f.Add([]byte(tc.content))
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "privacy.json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		private, found, err := LoadMode(p)
		if !found {
			t.Fatalf("LoadMode(%q): not found", data)
		}
		canonical := bytes.Equal(data, modeFile(false)) || bytes.Equal(data, modeFile(true))
		if (err == nil) != canonical {
			t.Fatalf("LoadMode(%q) err = %v; canonical file: %v", data, err, canonical)
		}
		if !private && !bytes.Equal(data, modeFile(false)) {
			t.Fatalf("LoadMode(%q) = privacy off", data)
		}
		if err != nil && !private {
			t.Fatalf("LoadMode(%q) = privacy off with error %v", data, err)
		}
	})
}
