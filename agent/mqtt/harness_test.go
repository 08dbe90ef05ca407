// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// recAuditor remembers the id of every record the agent appended.
type recAuditor struct {
	next agent.Auditor
	mu   sync.Mutex
	ids  []string
}

func (r *recAuditor) Append(rec agent.AuditRecord) error {
	if err := r.next.Append(rec); err != nil {
		return err
	}
	r.mu.Lock()
	r.ids = append(r.ids, rec.ID)
	r.mu.Unlock()
	return nil
}

func (r *recAuditor) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// testAgent is a running agent with simulated GPIO and a synthetic camera.
type testAgent struct {
	*agent.Agent
	outbox *Outbox
	audit  *recAuditor
	done   chan error
}

func startAgent(t testing.TB, node, zone, dir string) *testAgent {
	t.Helper()
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 64, Height: 48, Pixel: capture.I420, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := OpenOutbox(filepath.Join(dir, "outbox.jsonl"), OutboxOptions{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	ra := &recAuditor{next: ob}
	a, err := agent.New(agent.Config{
		Identity: firmware.Identity{NodeID: node, Site: "Test", Room: "Room " + zone, ZoneClass: zone,
			InitialPrivacy: "on", Installer: "test", IssuedAt: time.Now()},
		StatePath: filepath.Join(dir, "privacy.json"),
		Version:   "test",
	}, agent.Deps{
		LED:     &gpiotest.LED{},
		Shutter: &gpiotest.Shutter{Feedback: true, AutoFeedback: true, FeedbackDelay: 5 * time.Millisecond},
		Camera:  cam,
		Audit:   ra,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, outbox: ob, audit: ra, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ta.done
		ob.Close()
	})
	return ta
}

// startLink runs a link for ta until the test ends (or stop is called).
func startLink(t testing.TB, ta *testAgent, cfg Config) (stop func()) {
	t.Helper()
	cfg.Outbox = ta.outbox
	cfg.OnLinkStatus = ta.SetLink
	l, err := NewLink(cfg, ta)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// watcher is a hub-side client that records what it sees.
type watcher struct {
	c      paho.Client
	mu     sync.Mutex
	last   map[string][]byte
	all    map[string][][]byte
	notify chan struct{}
	// acking: the watcher acknowledges every audit record it receives,
	// as a hub does.
	acking atomic.Bool
}

// ackAudit makes w acknowledge every audit record it receives from now on.
func (w *watcher) ackAudit() *watcher { w.acking.Store(true); return w }

func newWatcher(t testing.TB, cc ClientConfig, topics ...string) *watcher {
	t.Helper()
	return newWatcherOpts(t, cc, func(*paho.ClientOptions) {}, topics...)
}

func (w *watcher) on(_ paho.Client, m paho.Message) {
	w.mu.Lock()
	w.last[m.Topic()] = m.Payload()
	w.all[m.Topic()] = append(w.all[m.Topic()], m.Payload())
	w.mu.Unlock()
	if w.acking.Load() && strings.HasSuffix(m.Topic(), "/audit") {
		if r, err := ParseAuditRecord(m.Payload()); err == nil {
			// Not waited for: this runs on paho's goroutine.
			w.c.Publish(m.Topic()+"/ack", 1, false, AckPayload(r.ID))
		}
	}
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *watcher) get(topic string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.last[topic])
}

func (w *watcher) msgs(topic string) [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.all[topic]...)
}

// wait polls cond on every message (and every 20 ms) until it holds or
// the deadline passes.
func (w *watcher) wait(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-w.notify:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

func (w *watcher) publish(t testing.TB, topic string, retain bool, payload []byte) {
	t.Helper()
	tk := w.c.Publish(topic, 1, retain, payload)
	if !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tk.Error())
	}
}

// results parses every result seen so far, by id.
func (w *watcher) result(topics Topics, id string) (Result, bool) {
	for _, b := range w.msgs(topics.Result) {
		var r Result
		if json.Unmarshal(b, &r) == nil && r.ID == id {
			return r, true
		}
	}
	return Result{}, false
}

func (w *watcher) status(topics Topics) (StatusPayload, bool) {
	var p StatusPayload
	b := w.get(topics.Status)
	return p, b != "" && json.Unmarshal([]byte(b), &p) == nil
}

func cmdPayload(id, privacy string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"id":%q,"privacy":%q,"actor":"test hub","issued_at":%q}`, id, privacy, at.UTC().Format(time.RFC3339Nano))
}

func auditIDs(w *watcher, topics Topics) map[string]bool {
	seen := map[string]bool{}
	for _, b := range w.msgs(topics.Audit) {
		var r agent.AuditRecord
		if json.Unmarshal(b, &r) == nil {
			seen[r.ID] = true
		}
	}
	return seen
}

// newWatcherOpts is newWatcher with extra client options.
func newWatcherOpts(t testing.TB, cc ClientConfig, set func(*paho.ClientOptions), topics ...string) *watcher {
	t.Helper()
	w := &watcher{last: map[string][]byte{}, all: map[string][][]byte{}, notify: make(chan struct{}, 1)}
	o, err := cc.Options()
	if err != nil {
		t.Fatal(err)
	}
	o.SetConnectRetry(false)
	set(o)
	subs := map[string]byte{}
	for _, tp := range topics {
		subs[tp] = 1
	}
	o.SetDefaultPublishHandler(w.on)
	o.SetOnConnectHandler(func(c paho.Client) {
		if len(subs) > 0 {
			c.SubscribeMultiple(subs, w.on)
		}
	})
	w.c = paho.NewClient(o)
	if tk := w.c.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("watcher connect: %v", tk.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

func ed25519Key() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}
