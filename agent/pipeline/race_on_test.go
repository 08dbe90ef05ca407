// SPDX-License-Identifier: Apache-2.0

//go:build race

package pipeline

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts through pooled code (pion's track) are not exact.
const raceEnabled = true
