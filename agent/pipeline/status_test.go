// SPDX-License-Identifier: Apache-2.0

package pipeline

import "testing"

type readersOutput struct {
	nullOutput
	n int
}

func (o *readersOutput) RecorderSessions() int { return o.n }

type pushOutput struct {
	nullOutput
	connected bool
}

func (*pushOutput) Target() string    { return "rtsps://hub:322/n" }
func (o *pushOutput) Connected() bool { return o.connected }

// TestStatusFromOutputs: the pipeline, the agent's one frame sink, reports
// its outputs' recorder readers (summed) and push state, for the node's
// status; none of either when no output has them.
func TestStatusFromOutputs(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n := p.RecorderSessions(); n != 0 {
		t.Fatalf("no outputs: %d recorder sessions", n)
	}
	if target, _ := p.Push(); target != "" {
		t.Fatalf("no outputs: push %q", target)
	}
	a, b, pub := &readersOutput{n: 2}, &readersOutput{n: 1}, &pushOutput{connected: true}
	p.Add(a)
	p.Add(&nullOutput{})
	p.Add(b)
	p.Add(pub)
	if n := p.RecorderSessions(); n != 3 {
		t.Fatalf("recorder sessions %d, want 3", n)
	}
	if target, connected := p.Push(); target != "rtsps://hub:322/n" || !connected {
		t.Fatalf("push %q %v", target, connected)
	}
	p.Remove(pub)
	if target, _ := p.Push(); target != "" {
		t.Fatalf("removed publisher still reported: %q", target)
	}
}
