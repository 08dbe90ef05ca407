// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// results returns every result seen for id.
func (w *watcher) results(topics Topics, id string) []Result {
	var out []Result
	for _, b := range w.msgs(topics.Result) {
		var r Result
		if json.Unmarshal(b, &r) == nil && r.ID == id {
			out = append(out, r)
		}
	}
	return out
}

// TestMosquittoRetainedCommand: a "privacy off" the hub publishes with the
// retain flag is executed once, when it arrives live (MQTT 3.1.1 clears the
// flag on live delivery); a technician then turns privacy on locally; the
// broker replays the retained command at the next (re)connect: it is
// refused ("error", with its id) and privacy stays on. A retained command
// already on the broker when a node connects is refused the same way.
func TestMosquittoRetainedCommand(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(t, p, b, "node-ret"), tlsClient(t, p, b, "hub")
	dir := t.TempDir()
	ta := startAgent(t, "node-ret", "reception", dir)
	cfg := Config{Client: ccN, Node: "node-ret", CommandIDs: filepath.Join(dir, CommandIDsFile)}
	stop := startLink(t, ta, cfg)
	topics := NodeTopics("camnode", "node-ret")
	w := newWatcher(t, ccHub, "camnode/node-ret/#")
	w.wait(t, 15*time.Second, "online", func() bool { return w.get(topics.Availability) == "online" })

	w.publish(t, topics.Command, true, cmdPayload("ret-off", "off", time.Now()))
	w.wait(t, 15*time.Second, "live result", func() bool { return len(w.results(topics, "ret-off")) == 1 })
	if r := w.results(topics, "ret-off")[0]; r.Result != ResultAccepted || ta.Status().Privacy {
		t.Fatalf("live delivery: %+v", r)
	}
	if _, err := ta.SetPrivacy(t.Context(), true, agent.SourceLocal, "technician"); err != nil {
		t.Fatal(err)
	}

	// Reconnect: the link stops and starts again on the same state dir;
	// the broker replays the retained command to the new subscription.
	stop()
	w.wait(t, 15*time.Second, "offline", func() bool { return w.get(topics.Availability) == "offline" })
	startLink(t, ta, cfg)
	w.wait(t, 15*time.Second, "replayed result", func() bool { return len(w.results(topics, "ret-off")) == 2 })
	r := w.results(topics, "ret-off")[1]
	if r.Result != ResultError || !strings.Contains(r.Reason, "retained") || r.Status == nil || !r.Status.Privacy {
		t.Fatalf("replayed retained command: %+v", r)
	}
	if !ta.Status().Privacy {
		t.Fatal("the retained command overrode the technician's local privacy on")
	}

	// A retained command waiting on the broker before the node connects.
	ccN2 := tlsClient(t, p, b, "node-ret2")
	ccHub2 := ccHub
	ccHub2.ClientID = "hub-2" // one client id, one connection
	w2 := newWatcher(t, ccHub2, "camnode/node-ret2/#")
	t2 := NodeTopics("camnode", "node-ret2")
	w2.publish(t, t2.Command, true, cmdPayload("ret-early", "off", time.Now()))
	tb := startAgent(t, "node-ret2", "reception", t.TempDir())
	startLink(t, tb, Config{Client: ccN2, Node: "node-ret2"})
	w2.wait(t, 15*time.Second, "result", func() bool { return len(w2.results(t2, "ret-early")) == 1 })
	if r := w2.results(t2, "ret-early")[0]; r.Result != ResultError || !tb.Status().Privacy {
		t.Fatalf("retained command at connect: %+v, privacy %v", r, tb.Status().Privacy)
	}
	// Both refusals are answered and nothing else: the command topic
	// still holds the retained message (the hub must clear it).
	if n := len(w.results(topics, "ret-off")); n != 2 {
		t.Fatalf("%d results for ret-off", n)
	}
}

// blockedNode is a fakeNode whose SetPrivacy waits until released: an
// agent stuck in a privacy change.
type blockedNode struct {
	*fakeNode
	release chan struct{}
}

func (n *blockedNode) SetPrivacy(ctx context.Context, on bool, src agent.Source, actor string) (agent.Status, error) {
	select {
	case <-n.release:
	case <-ctx.Done():
		return n.Status(), ctx.Err()
	}
	return n.fakeNode.SetPrivacy(ctx, on, src, actor)
}

// TestMosquittoCommandBurst: 100 commands reach a node whose agent is
// stuck: the ones beyond the queue are answered "busy" (with their id)
// instead of being dropped silently, and every command gets exactly one
// result.
func TestMosquittoCommandBurst(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{LogTypes: []string{"error", "warning"}})
	ccN, ccHub := tlsClient(t, p, b, "node-burst"), tlsClient(t, p, b, "hub")
	node := &blockedNode{fakeNode: newFakeNode("node-burst"), release: make(chan struct{})}
	l, err := NewLink(Config{Client: ccN, Node: "node-burst"}, node)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	released := false
	t.Cleanup(func() {
		if !released {
			close(node.release)
		}
		cancel()
		<-done
	})
	topics := NodeTopics("camnode", "node-burst")
	w := newWatcher(t, ccHub, topics.Availability, topics.Result)
	w.wait(t, 15*time.Second, "online", func() bool { return w.get(topics.Availability) == "online" })

	const n = 100
	now := time.Now()
	for i := range n {
		w.publish(t, topics.Command, false, cmdPayload(fmt.Sprintf("burst-%03d", i), "on", now))
	}
	// One command is stuck in the agent, cmdQueue wait: the rest is busy.
	w.wait(t, 30*time.Second, "busy answers", func() bool { return len(w.msgs(topics.Result)) >= n-cmdQueue-1 })
	close(node.release)
	released = true
	counts := map[string]int{}
	busy := 0
	w.wait(t, 60*time.Second, "a result for every command", func() bool {
		clear(counts)
		busy = 0
		for _, m := range w.msgs(topics.Result) {
			r := mustResult(t, m)
			counts[r.ID]++
			if r.Result == ResultBusy {
				busy++
			}
		}
		return len(counts) == n
	})
	for i := range n {
		id := fmt.Sprintf("burst-%03d", i)
		if counts[id] != 1 {
			t.Errorf("%s: %d results", id, counts[id])
		}
	}
	if busy < n-cmdQueue-1 || busy == n {
		t.Fatalf("%d busy of %d", busy, n)
	}
	t.Logf("%d executed, %d busy", n-busy, busy)
}

// TestMosquittoShippedACLNoWarning: mosquitto loads the shipped ACL
// template without a warning or error about it.
func TestMosquittoShippedACLNoWarning(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	b.WaitLog(t, 10*time.Second, "Opening ipv4 listen socket")
	log, err := os.ReadFile(b.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "Config loaded") {
		t.Fatalf("no config load in the log:\n%s", log)
	}
	for line := range strings.Lines(string(log)) {
		// "<time>: Warning: ACL pattern '...' does not contain '%c' or '%u'."
		_, msg, _ := strings.Cut(line, ": ")
		l := strings.ToLower(msg)
		if (strings.HasPrefix(l, "warning") || strings.HasPrefix(l, "error")) && strings.Contains(l, "acl") {
			t.Errorf("mosquitto: %s", strings.TrimSpace(line))
		}
	}
}
