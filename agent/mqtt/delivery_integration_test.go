// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/internal/waittest"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// waitFor polls cond until it holds, or fails the test after d: a
// deadline to fail instead of hanging, not a timing assertion.
var waitFor = waittest.Until

func linkState(ta *testAgent) string {
	if l := ta.Status().Link; l != nil {
		return l.State
	}
	return ""
}

// TestMosquittoCNMismatchFault: a node whose client certificate's CN is not
// its node id would have every publish dropped by the shipped ACL (and
// PUBACKed): the node says so at start, as a fault in its status.
func TestMosquittoCNMismatchFault(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	cc := tlsClient(t, p, b, "node-other")
	ta := startAgent(t, "node-x", "reception", t.TempDir())
	startLink(t, ta, Config{Client: cc, Node: "node-x"})
	waitFor(t, 20*time.Second, "hub_link fault in the status", func() bool {
		return strings.Contains(ta.Status().Faults[agent.FaultHubLink], `CN "node-other", not the node id "node-x"`)
	})
	// The audit records go nowhere: they stay in the outbox.
	if _, err := ta.SetPrivacy(t.Context(), false, agent.SourceLocal, "tech"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "connected", func() bool { return linkState(ta) == LinkConnected })
	if ta.outbox.Stats().Pending == 0 {
		t.Fatal("the outbox drained although the broker's ACL dropped every record")
	}
}

// TestMosquittoAuditSurvivesBrokerRestart: a broker without persistence
// (mosquitto's default) PUBACKs records nobody subscribed to and forgets
// everything when it restarts. The node keeps each record until the hub
// acknowledges it: after the restart a hub that subscribes late still gets
// every record, acknowledges them, and the outbox empties.
func TestMosquittoAuditSurvivesBrokerRestart(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{NoPersistence: true})
	ccN, ccHub := tlsClient(t, p, b, "node-p"), tlsClient(t, p, b, "hub")
	ta := startAgent(t, "node-p", "reception", t.TempDir())
	startLink(t, ta, Config{Client: ccN, Node: "node-p", AuditResendMin: 200 * time.Millisecond, AuditResendMax: time.Second})
	topics := NodeTopics("camnode", "node-p")
	waitFor(t, 20*time.Second, "connected", func() bool { return linkState(ta) == LinkConnected })

	for i, on := range []bool{false, true, false, true} {
		if _, err := ta.SetPrivacy(t.Context(), on, agent.SourceLocal, fmt.Sprintf("tech-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The broker PUBACKs each record (marked sent) although nobody reads.
	waitFor(t, 20*time.Second, "records published", func() bool { return ta.outbox.AwaitingAck() && len(ta.outbox.Unsent(1)) == 0 })
	b.Stop()
	b.Start()
	if ta.outbox.Stats().Pending != len(ta.audit.IDs()) {
		t.Fatalf("outbox %+v, records %d: acknowledged without a hub", ta.outbox.Stats(), len(ta.audit.IDs()))
	}
	hub := newWatcher(t, ccHub, topics.Audit).ackAudit()
	hub.wait(t, 60*time.Second, "every record at the hub, acknowledged, outbox empty", func() bool {
		seen := auditIDs(hub, topics)
		for _, id := range ta.audit.IDs() {
			if !seen[id] {
				return false
			}
		}
		return ta.outbox.Stats().Pending == 0
	})
}

// TestMosquittoAuditKeptAcrossRestart: records the hub has not acknowledged
// (the broker PUBACKed them) are still in the outbox after the node
// restarts, are published again, and leave it only when acknowledged.
func TestMosquittoAuditKeptAcrossRestart(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(t, p, b, "node-s"), tlsClient(t, p, b, "hub")
	topics := NodeTopics("camnode", "node-s")
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	node := newFakeNode("node-s")

	// First life: records published, PUBACKed, never acknowledged.
	ob, err := OpenOutbox(path, OutboxOptions{Node: "node-s"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		rec := agent.AuditRecord{ID: agent.NewAuditID(), Time: time.Now(), Node: "node-s", Kind: "privacy", Actor: fmt.Sprint("t", i)}
		if err := ob.Append(rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	l, err := NewLink(Config{Client: ccN, Node: "node-s", Outbox: ob}, node)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	waitFor(t, 20*time.Second, "records PUBACKed", func() bool { return len(ob.Unsent(1)) == 0 })
	cancel()
	<-done
	ob.Close()

	// Second life: the same records are pending and reach the hub.
	ob2, err := OpenOutbox(path, OutboxOptions{Node: "node-s"})
	if err != nil {
		t.Fatal(err)
	}
	defer ob2.Close()
	if got := ob2.Stats().Pending; got != len(ids) {
		t.Fatalf("after the restart %d records pending, want %d", got, len(ids))
	}
	hub := newWatcher(t, ccHub, topics.Audit).ackAudit()
	l2, err := NewLink(Config{Client: ccN, Node: "node-s", Outbox: ob2}, node)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { l2.Run(ctx2); close(done2) }()
	defer func() { cancel2(); <-done2 }()
	hub.wait(t, 30*time.Second, "all records at the hub, outbox empty", func() bool {
		seen := auditIDs(hub, topics)
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return ob2.Stats().Pending == 0
	})
}

// TestMosquittoStatusOutboxCount: the published status follows the outbox
// (records queued, then acknowledged by the hub) without waiting for the
// 60 s periodic status.
func TestMosquittoStatusOutboxCount(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(t, p, b, "node-q"), tlsClient(t, p, b, "hub")
	ta := startAgent(t, "node-q", "reception", t.TempDir())
	// The hub subscribes after the record was published: a short resend
	// wait brings it again.
	startLink(t, ta, Config{Client: ccN, Node: "node-q", StatusMinGap: 50 * time.Millisecond, AuditResendMin: 200 * time.Millisecond})
	topics := NodeTopics("camnode", "node-q")
	w := newWatcher(t, ccHub, topics.Status)
	w.wait(t, 20*time.Second, "status", func() bool { _, ok := w.status(topics); return ok })
	// A record with no other status change: the agent's status stays the
	// same, only the outbox grows.
	if err := ta.Record(agent.AuditRecord{Kind: agent.KindRefusal, Source: agent.SourceAgent, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	n := ta.outbox.Stats().Pending
	w.wait(t, 30*time.Second, fmt.Sprintf("status with %d pending", n), func() bool {
		st, ok := w.status(topics)
		return ok && st.Outbox.Pending == n && st.Link != nil && st.Link.AuditUnacked == n && !st.Link.AuditOldest.IsZero()
	})
	newWatcher(t, ccHub, topics.Audit).ackAudit()
	w.wait(t, 30*time.Second, "status with 0 pending after the hub's acknowledgements", func() bool {
		st, ok := w.status(topics)
		return ok && st.Outbox.Pending == 0 && st.Link.AuditUnacked == 0
	})
}

// TestMosquittoRejectedCertLastError: a node certificate from another CA
// is refused by mosquitto; the link's status and its last error say so.
func TestMosquittoRejectedCertLastError(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	other := mqtttest.NewPKI(t)
	cert, key := other.Issue(t, "node-z", false)
	cc := ClientConfig{Brokers: []string{b.URL}, CAFile: p.CAFile(), CertFile: cert, KeyFile: key}
	ta := startAgent(t, "node-z", "reception", t.TempDir())
	startLink(t, ta, Config{Client: cc, Node: "node-z"})
	waitFor(t, 20*time.Second, "a failed attempt in the status", func() bool {
		l := ta.Status().Link
		return l != nil && l.Failures > 0
	})
	l := ta.Status().Link
	if l.State != LinkDown && l.State != LinkConnecting || !strings.Contains(l.LastError, "does not accept the client certificate in "+cert) {
		t.Fatalf("link status %+v", l)
	}
}

// TestMosquittoCleanStopHaltedStatus: camnode streaming, then stopped with
// SIGTERM: the retained status the hub finds afterwards is the halted one
// (LED off, shutter closed, not streaming), not the last streaming one.
func TestMosquittoCleanStopHaltedStatus(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(t, p, b, "node-t"), tlsClient(t, p, b, "hub")
	node, exited := startCamnodeExit(t, "node-t", ccN, 2*time.Second)
	topics := NodeTopics("camnode", "node-t")
	w := newWatcher(t, ccHub, topics.Availability, topics.Status, topics.Result)
	w.wait(t, 30*time.Second, "camnode online", func() bool { return w.get(topics.Availability) == "online" })
	w.publish(t, topics.Command, false, cmdPayload("go-live", "off", time.Now()))
	w.wait(t, 30*time.Second, "streaming in the status", func() bool {
		st, ok := w.status(topics)
		return ok && st.Recording && st.LED && st.Shutter == "open"
	})
	if err := node.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("camnode did not exit after SIGTERM")
	}
	late := newWatcher(t, ccHub, topics.Status, topics.Availability)
	late.wait(t, 20*time.Second, "retained status and availability", func() bool {
		_, ok := late.status(topics)
		return ok && late.get(topics.Availability) == "offline"
	})
	st, _ := late.status(topics)
	// The requested mode stays "off" (the node resumes it when it
	// starts again); the outputs are halted.
	if st.LED || st.Shutter != "closed" || st.Capture != "off" || st.Recording {
		t.Fatalf("retained status after a clean stop: led %v shutter %s capture %s recording %v",
			st.LED, st.Shutter, st.Capture, st.Recording)
	}
}
