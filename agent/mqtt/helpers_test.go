// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
)

func testStatus() agent.Status {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	return agent.Status{Node: "node-1", Site: "s", Room: "r", ZoneClass: "reception", CaptureAllowed: true,
		Privacy: true, Shutter: "closed", Capture: "off", Audio: "absent", Faults: map[string]string{},
		Version: "test", Since: now.Add(-time.Minute), Time: now}
}

func mustParseID(payload string) Command {
	c, _ := ParseCommand([]byte(payload), cmdNow)
	return c
}

func mustResult(t testing.TB, b []byte) Result {
	t.Helper()
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("result %s: %v", b, err)
	}
	return r
}

// testNode is a Node that is never called (config tests).
type testNode struct{}

func (testNode) Status() agent.Status { return agent.Status{} }
func (testNode) Subscribe() (<-chan agent.Status, func()) {
	return make(chan agent.Status), func() {}
}
func (testNode) SetPrivacy(context.Context, bool, agent.Source, string) (agent.Status, error) {
	return agent.Status{}, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
