// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"fmt"
	"time"
)

// Clock sync states (LifeRecord.ClockSync).
const (
	ClockSynchronized   = "synchronized"
	ClockUnsynchronized = "unsynchronized"
	ClockUnknown        = "unknown"
)

// DefaultClockJump is the smallest difference between how far the wall
// clock and the monotonic clock moved that is recorded as a clock jump.
const DefaultClockJump = 2 * time.Second

// ClockWatch records clock jumps and changes of the clock's sync state in
// the audit trail (docs/audit.md, "The clock"). Every record's time is the
// wall clock, which NTP, an operator or an attacker with root can move;
// the monotonic clock cannot be set. Between two checks both should move
// by the same amount: when they differ by more than Threshold, the wall
// clock was stepped, and a "clock" record says by how much, so a verifier
// knows where the records' times are not comparable.
//
// Check is called periodically by the node (and directly by tests, with
// injected readings).
type ClockWatch struct {
	// Read returns the wall clock and a monotonic reading (default:
	// time.Now and the monotonic time since the watch's first check).
	Read func() (wall time.Time, mono time.Duration)
	// Sync returns the clock's sync state (default: ClockSyncState).
	Sync      func() string
	Threshold time.Duration // default DefaultClockJump
	// Record writes a record (Agent.Record stamps it).
	Record func(AuditRecord) error

	started  bool
	wall     time.Time
	mono     time.Duration
	sync     string
	monoBase time.Time
}

// Check compares the clocks with the last check and records a jump or a
// change of sync state. The first check records the initial sync state.
func (w *ClockWatch) Check() error {
	if w.Read == nil {
		w.Read = w.readNow
	}
	if w.Sync == nil {
		w.Sync = ClockSyncState
	}
	if w.Threshold <= 0 {
		w.Threshold = DefaultClockJump
	}
	wall, mono := w.Read()
	sync := w.Sync()
	var errs []error
	if w.started {
		if jump := wall.Sub(w.wall) - (mono - w.mono); jump >= w.Threshold || jump <= -w.Threshold {
			sign := "+"
			if jump < 0 {
				sign = ""
			}
			errs = append(errs, w.Record(AuditRecord{Kind: KindClock, Source: SourceAgent,
				Reason: fmt.Sprintf("wall clock jumped %s%v against the monotonic clock (from %s, sync %s)", sign, jump, w.wall.UTC().Format(time.RFC3339Nano), sync),
				Life:   &LifeRecord{Jump: sign + jump.String(), ClockSync: sync}}))
		}
	}
	if !w.started || sync != w.sync {
		why := "clock sync state at start: " + sync
		if w.started {
			why = fmt.Sprintf("clock sync state changed: %s -> %s", w.sync, sync)
		}
		errs = append(errs, w.Record(AuditRecord{Kind: KindClock, Source: SourceAgent, Reason: why,
			Life: &LifeRecord{ClockSync: sync}}))
	}
	w.started, w.wall, w.mono, w.sync = true, wall, mono, sync
	return errors.Join(errs...)
}

func (w *ClockWatch) readNow() (time.Time, time.Duration) {
	now := time.Now()
	if w.monoBase.IsZero() {
		w.monoBase = now
	}
	return now.Round(0), now.Sub(w.monoBase) // Sub uses the monotonic readings
}

// timesyncFlag is the file systemd-timesyncd creates once the clock is
// synchronized (readable by everyone, unlike asking timedatectl over D-Bus).
const timesyncFlag = "/run/systemd/timesync/synchronized"
