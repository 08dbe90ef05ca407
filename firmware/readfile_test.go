// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadFile: every kind of path a hostile or broken node could present
// where a file is expected gets a clear, prompt error. A FIFO would hang
// os.ReadFile forever and /dev/zero would exhaust memory; both must fail at
// once.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "privacy.json")
	os.WriteFile(regular, []byte(`{"version":1}`), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 101), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	cases := []struct {
		name, path string
		errIs      error
		errHas     string
	}{
		{"regular", regular, nil, ""},
		{"symlink to a regular file", link("ok", regular), nil, ""},
		{"missing", filepath.Join(dir, "missing"), fs.ErrNotExist, "missing"},
		{"dangling symlink", link("dangling", filepath.Join(dir, "nowhere")), fs.ErrNotExist, "dangling"},
		{"too large", big, ErrTooLarge, "101 bytes"},
		{"FIFO", fifo, ErrNotRegular, "a FIFO"},
		{"symlink to a FIFO", link("tofifo", fifo), ErrNotRegular, "a FIFO"},
		{"/dev/zero", link("zero", "/dev/zero"), ErrNotRegular, "a character device"},
		{"/dev/urandom", link("urandom", "/dev/urandom"), ErrNotRegular, "a character device"},
		{"directory", dir, ErrNotRegular, "a directory"},
		{"socket", sock, ErrNotRegular, "a socket"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := ReadFile(tc.path, 100)
			if tc.errIs == nil {
				if err != nil || string(data) != `{"version":1}` {
					t.Fatalf("ReadFile = %q, %v", data, err)
				}
				return
			}
			if !errors.Is(err, tc.errIs) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want errors.Is %v and %q", err, tc.errIs, tc.errHas)
			}
			if !strings.Contains(err.Error(), filepath.Base(tc.path)) {
				t.Fatalf("err = %v does not name the file", err)
			}
		})
	}
}
