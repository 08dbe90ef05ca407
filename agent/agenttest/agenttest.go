// SPDX-License-Identifier: Apache-2.0

// Package agenttest holds helpers for tests that drive a real agent.Agent
// from outside its package (the VM tests, integration tests).
package agenttest

import (
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
)

// WaitStatus waits until ok(status) holds and returns that status, or fails
// the test after d, naming what it waited for.
func WaitStatus(t testing.TB, a *agent.Agent, what string, d time.Duration, ok func(agent.Status) bool) agent.Status {
	t.Helper()
	ch, stop := a.Subscribe()
	defer stop()
	timeout := time.After(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case st := <-ch:
			if ok(st) {
				return st
			}
		case <-tick.C:
			if st := a.Status(); ok(st) {
				return st
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s; status %+v", what, a.Status())
		}
	}
}
