// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"os"
	"path/filepath"
	"testing"
)

func TestScanFreePort(t *testing.T) {
	for _, c := range []struct {
		name, status string
		port         int
	}{
		{"first free", "hub port sta spd dev      sockfd local_busid\nhs  0000 006 003 00010002 000006 1-1\nhs  0001 004 000 00000000 000000 0-0\nss  0008 004 000 00000000 000000 0-0\n", 1},
		{"only superspeed free", "hub port sta spd dev      sockfd local_busid\nhs  0000 006 003 00010002 000006 1-1\nss  0001 004 000 00000000 000000 0-0\n", -1},
		{"garbage", "hs x y\n\x00\x01\nhs 0003\n", -1},
		{"empty", "", -1},
	} {
		p := filepath.Join(t.TempDir(), "status")
		if err := os.WriteFile(p, []byte(c.status), 0o600); err != nil {
			t.Fatal(err)
		}
		port, err := scanFreePort(p)
		if port != c.port || (err == nil) != (c.port >= 0) {
			t.Errorf("%s: port %d, %v; want %d", c.name, port, err, c.port)
		}
	}
	if _, err := scanFreePort(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing status file")
	}
}
