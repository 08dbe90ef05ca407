// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware"
)

// TestOpenFileAuditorRegularOnly: a FIFO at the audit path used to block
// the open (and boot) until a reader came; /dev/null would have swallowed
// the trail. Both are a prompt error; a regular file appends.
func TestOpenFileAuditorRegularOnly(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(dir, "null.jsonl")
	if err := os.Symlink("/dev/null", null); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{"FIFO": fifo, "/dev/null": null, "directory": dir} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				a, err := OpenFileAuditor(p)
				if err == nil {
					a.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, firmware.ErrNotRegular) {
					t.Fatalf("OpenFileAuditor(%s) = %v, want a not-a-regular-file error", name, err)
				}
			case <-time.After(30 * time.Second): // a deadline to fail, not a timing assertion
				t.Fatalf("OpenFileAuditor(%s) hangs", name)
			}
		})
	}
	p := filepath.Join(dir, "audit.jsonl")
	a, err := OpenFileAuditor(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Append(AuditRecord{ID: "x", Kind: "privacy"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), `"id":"x"`) {
		t.Fatalf("audit file = %q", b)
	}
}
