// SPDX-License-Identifier: Apache-2.0

package push

import "github.com/camnode/camnode/agent/recorder/pushurl"

// target is a parsed push URL (agent/recorder/pushurl, shared with
// agent/config's validation of [recorder] push).
type target = pushurl.Target

// parseTarget checks a push URL: rtsps://host[:port]/path, or
// rtsp://loopback[:port]/path when insecure is set.
func parseTarget(raw string, insecure bool) (target, error) { return pushurl.Parse(raw, insecure) }
