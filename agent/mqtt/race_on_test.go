// SPDX-License-Identifier: Apache-2.0

//go:build race

package mqtt

// raceEnabled: mochi-mqtt v2.7.9 (the demo's embedded broker, latest
// release) races in its own retained-message index (TopicsIndex.RetainMessage
// writes a particle's retainPath under the particle lock; scanMessages reads
// it without). Tests against it run in scripts/test's non-race step.
const raceEnabled = true
