// SPDX-License-Identifier: Apache-2.0

// Package waittest is the one way tests wait for a condition: poll it
// until it holds, with a generous deadline that only turns a hang into a
// failure (never a timing assertion: see the brief's "no timing
// assumptions"). It is for tests only.
package waittest

import (
	"testing"
	"time"
)

// Interval is how often Until polls.
const Interval = 10 * time.Millisecond

// Until polls cond every Interval until it holds, or fails the test after
// d, naming what it waited for.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}
