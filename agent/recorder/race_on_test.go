// SPDX-License-Identifier: Apache-2.0

//go:build race

package recorder

// raceEnabled: allocation counts are not exact under the race detector.
const raceEnabled = true
