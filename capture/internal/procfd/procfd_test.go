// SPDX-License-Identifier: Apache-2.0

package procfd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLinks(t *testing.T) {
	name := filepath.Join(t.TempDir(), "held")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	match := func(l string) bool { return l == name }
	got, err := Links(0, match)
	if err != nil || len(got) != 1 || !strings.HasSuffix(got[0], "->"+name) {
		t.Fatalf("open: %v %v", got, err)
	}
	if byPID, err := Links(os.Getpid(), match); err != nil || len(byPID) != 1 {
		t.Fatalf("by pid: %v %v", byPID, err)
	}
	f.Close()
	if got, err := Links(0, match); err != nil || len(got) != 0 {
		t.Fatalf("closed: %v %v", got, err)
	}
	if _, err := Links(-1, match); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
