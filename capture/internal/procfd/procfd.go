// SPDX-License-Identifier: Apache-2.0

// Package procfd lists a process's open file descriptors from /proc, for
// tests that must prove what a process holds open (a camera it may not
// open, a watch that must be closed).
package procfd

import (
	"fmt"
	"os"
	"path/filepath"
)

// Links returns "fd->target" for each open descriptor of pid (0 = this
// process) whose link target satisfies match.
func Links(pid int, match func(target string) bool) ([]string, error) {
	dir := "/proc/self/fd"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/fd", pid)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && match(l) {
			out = append(out, e.Name()+"->"+l)
		}
	}
	return out, nil
}
