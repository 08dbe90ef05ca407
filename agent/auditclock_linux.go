// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// ClockSyncState tells whether the system clock is synchronized: from
// systemd-timesyncd's flag file when timesyncd runs, else from the
// kernel's adjtimex status (STA_UNSYNC), else unknown (e.g. adjtimex is
// filtered by the unit's ProtectClock=yes).
func ClockSyncState() string { return clockSyncState(os.DirFS("/"), unix.Adjtimex) }

func clockSyncState(root fs.FS, adjtimex func(*unix.Timex) (int, error)) string {
	if _, err := fs.Stat(root, "run/systemd/timesync"); err == nil {
		if _, err := fs.Stat(root, timesyncFlag[1:]); err == nil {
			return ClockSynchronized
		}
		return ClockUnsynchronized
	}
	var tx unix.Timex // modes 0: read only
	state, err := adjtimex(&tx)
	switch {
	case err != nil:
		return ClockUnknown
	case state == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0:
		return ClockUnsynchronized
	}
	return ClockSynchronized
}
