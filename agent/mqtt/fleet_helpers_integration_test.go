// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent"
)

// fakeNode is the lightest Node a Link can serve: a status in memory, no
// camera, no GPIO, no audit. Status() stamps the snapshot time, so the hub
// can tell a status built after a reconnect from a retained leftover.
type fakeNode struct {
	mu sync.Mutex
	st agent.Status
	ch chan agent.Status // never sent on: the link republishes on connect
}

func newFakeNode(id string) *fakeNode {
	now := time.Now()
	return &fakeNode{ch: make(chan agent.Status), st: agent.Status{Node: id, Site: "Sim", Room: "Room " + id,
		ZoneClass: "reception", CaptureAllowed: true, Privacy: true, Shutter: "closed", Capture: "off",
		Audio: "absent", Faults: map[string]string{}, Version: "sim", Since: now}}
}

func (n *fakeNode) Status() agent.Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.st
	s.Time = time.Now()
	return s
}

func (n *fakeNode) Subscribe() (<-chan agent.Status, func()) { return n.ch, func() {} }

func (n *fakeNode) SetPrivacy(_ context.Context, on bool, _ agent.Source, _ string) (agent.Status, error) {
	n.mu.Lock()
	n.st.Privacy = on
	n.mu.Unlock()
	return n.Status(), nil
}

// logEvents is a slog.Handler that reports when the link logs a message
// (e.g. "mqtt: connection lost"), with the instant it was logged.
type logEvents struct{ ch chan logEvent }

type logEvent struct {
	msg string
	at  time.Time
}

func newLogEvents() *logEvents { return &logEvents{ch: make(chan logEvent, 64)} }

func (h *logEvents) Enabled(context.Context, slog.Level) bool { return true }
func (h *logEvents) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- logEvent{r.Message, time.Now()}:
	default:
	}
	return nil
}
func (h *logEvents) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logEvents) WithGroup(string) slog.Handler      { return h }

// next waits for the next logged message equal to msg.
func (h *logEvents) next(t testing.TB, msg string, d time.Duration) time.Time {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e := <-h.ch:
			if e.msg == msg {
				return e.at
			}
		case <-deadline:
			t.Fatalf("no %q logged within %v", msg, d)
		}
	}
}

// drain forgets what was logged so far.
func (h *logEvents) drain() {
	for {
		select {
		case <-h.ch:
		default:
			return
		}
	}
}

// procCPU is the user+system CPU time a process has used so far, from
// /proc/<pid>/stat (utime and stime, in clock ticks of 10 ms on Linux).
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[0] is field 3 (state)
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// fleetView is the hub's view of a fleet: availability and status per
// node from one camnode/+/+ subscription (what camctl watch does).
type fleetView struct {
	c      paho.Client
	mu     sync.Mutex
	nodes  map[string]*fleetEntry
	since  time.Time            // a status built before this is stale
	fresh  map[string]time.Time // node -> when the hub saw it online with a fresh status
	notify chan struct{}
}

type fleetEntry struct {
	avail    string
	statusAt time.Time // the status snapshot's own time
}

func newFleetView(t testing.TB, cc ClientConfig) *fleetView {
	return newFleetViewSince(t, cc, time.Time{})
}

// newFleetViewSince is newFleetView counting only statuses built after
// since as fresh.
func newFleetViewSince(t testing.TB, cc ClientConfig, since time.Time) *fleetView {
	t.Helper()
	v := &fleetView{nodes: map[string]*fleetEntry{}, fresh: map[string]time.Time{}, notify: make(chan struct{}, 1), since: since}
	o, err := cc.Options()
	if err != nil {
		t.Fatal(err)
	}
	o.SetOnConnectHandler(func(c paho.Client) { c.Subscribe("camnode/+/+", 1, v.on) })
	v.c = paho.NewClient(o)
	if tk := v.c.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("hub connect: %v", tk.Error())
	}
	t.Cleanup(func() { v.c.Disconnect(100) })
	return v
}

func (v *fleetView) on(_ paho.Client, m paho.Message) {
	parts := strings.Split(m.Topic(), "/")
	if len(parts) != 3 {
		return
	}
	now := time.Now()
	v.mu.Lock()
	e := v.nodes[parts[1]]
	if e == nil {
		e = &fleetEntry{}
		v.nodes[parts[1]] = e
	}
	switch parts[2] {
	case "availability":
		e.avail = string(m.Payload())
	case "status":
		var st StatusPayload
		if json.Unmarshal(m.Payload(), &st) == nil {
			e.statusAt = st.Time
		}
	}
	if _, ok := v.fresh[parts[1]]; !ok && e.avail == "online" && !e.statusAt.Before(v.since) {
		v.fresh[parts[1]] = now
	}
	v.mu.Unlock()
	select {
	case v.notify <- struct{}{}:
	default:
	}
}

// reset makes every status built before since stale.
func (v *fleetView) reset(since time.Time) {
	v.mu.Lock()
	v.since = since
	clear(v.fresh)
	v.mu.Unlock()
}

// count waits until n nodes are online with a fresh status, at most d,
// and returns how many were.
func (v *fleetView) count(n int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		v.mu.Lock()
		got := len(v.fresh)
		v.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond) // polling a count
	}
}

// converge waits until n nodes are online with a fresh status and returns,
// per node, the status snapshot time (when the node re-announced itself)
// and when the hub saw it.
func (v *fleetView) converge(t testing.TB, n int, d time.Duration) (statusAt, seenAt []time.Time) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		v.mu.Lock()
		got := len(v.fresh)
		if got >= n {
			for node, at := range v.fresh {
				seenAt = append(seenAt, at)
				statusAt = append(statusAt, v.nodes[node].statusAt)
			}
			v.mu.Unlock()
			return statusAt, seenAt
		}
		v.mu.Unlock()
		select {
		case <-v.notify:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("hub view: %d of %d nodes online with a fresh status after %v", got, n, d)
		}
	}
}
