// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"os"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"
)

// TestClockSyncState: timesyncd's flag file decides when timesyncd runs;
// else the kernel's adjtimex status; else unknown (ProtectClock=yes
// filters adjtimex).
func TestClockSyncState(t *testing.T) {
	synced := func(tx *unix.Timex) (int, error) { return unix.TIME_OK, nil }
	unsync := func(tx *unix.Timex) (int, error) { tx.Status = unix.STA_UNSYNC; return unix.TIME_OK, nil }
	denied := func(tx *unix.Timex) (int, error) { return 0, unix.EPERM }
	dirOnly := fstest.MapFS{"run/systemd/timesync": &fstest.MapFile{Mode: os.ModeDir | 0o755}}
	flag := fstest.MapFS{"run/systemd/timesync/synchronized": &fstest.MapFile{}}
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		adj  func(*unix.Timex) (int, error)
		want string
	}{
		{"timesyncd synced", flag, denied, ClockSynchronized},
		{"timesyncd not synced", dirOnly, synced, ClockUnsynchronized},
		{"kernel synced", fstest.MapFS{}, synced, ClockSynchronized},
		{"kernel unsynced", fstest.MapFS{}, unsync, ClockUnsynchronized},
		{"no way to tell", fstest.MapFS{}, denied, ClockUnknown},
	} {
		if got := clockSyncState(tc.fs, tc.adj); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
