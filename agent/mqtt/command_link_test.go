// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/camnode/camnode/agent"
)

// cmdNode is a Node that records every SetPrivacy call; refuse makes it
// refuse "off" the way a clinical zone does.
type cmdNode struct {
	mu      sync.Mutex
	privacy bool
	calls   []bool // the "on" argument of every SetPrivacy
	refuse  string
}

func newCmdNode() *cmdNode { return &cmdNode{privacy: true} }

func (n *cmdNode) Status() agent.Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := testStatus()
	st.Privacy = n.privacy
	return st
}

func (n *cmdNode) Subscribe() (<-chan agent.Status, func()) {
	return make(chan agent.Status), func() {}
}

func (n *cmdNode) SetPrivacy(_ context.Context, on bool, _ agent.Source, _ string) (agent.Status, error) {
	n.mu.Lock()
	n.calls = append(n.calls, on)
	refuse := n.refuse
	if refuse == "" || on {
		n.privacy = on
	}
	n.mu.Unlock()
	if refuse != "" && !on {
		return n.Status(), &agent.RefusedError{Reason: refuse}
	}
	return n.Status(), nil
}

// offCalls counts the executed "privacy off" commands.
func (n *cmdNode) offCalls() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, on := range n.calls {
		if !on {
			k++
		}
	}
	return k
}

func (n *cmdNode) nCalls() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.calls)
}

// clock is an injected, settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// offlineLink is a Link that is never connected: its command path is
// driven by calling dispatch and execute directly.
func offlineLink(t testing.TB, node Node, idsPath string, now func() time.Time) *Link {
	t.Helper()
	l, err := NewLink(Config{Client: ClientConfig{Brokers: []string{"tcp://127.0.0.1:1"}, Insecure: true},
		Node: "node-1", CommandIDs: idsPath, Now: now}, node)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCommandIDReplayAfterRestart: a command id is executed once; a repeat
// is answered with the first result without executing, also by a new link
// (an agent restart) on the same state dir.
func TestCommandIDReplayAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), CommandIDsFile)
	clk := &clock{now: cmdNow}
	node := newCmdNode()
	off := cmdPayload("r-off", "off", cmdNow)
	on := cmdPayload("r-on", "on", cmdNow)
	l := offlineLink(t, node, path, clk.Now)
	if r := l.execute(t.Context(), off); r.Result != ResultAccepted || r.ID != "r-off" {
		t.Fatalf("first off: %+v", r)
	}
	if r := l.execute(t.Context(), on); r.Result != ResultAccepted {
		t.Fatalf("first on: %+v", r)
	}
	if node.nCalls() != 2 {
		t.Fatalf("calls %v", node.calls)
	}
	// The same link, and then a new link on the same file after a restart.
	clk.Add(30 * time.Second)
	for i, l := range []*Link{l, offlineLink(t, node, path, clk.Now)} {
		for _, p := range [][]byte{off, on} {
			r := l.execute(t.Context(), p)
			if r.Result != ResultAccepted || r.ID != CommandID(p) || r.Status == nil {
				t.Fatalf("link %d: repeat of %s: %+v", i, p, r)
			}
		}
		if node.nCalls() != 2 {
			t.Fatalf("link %d: a repeated id was executed: calls %v", i, node.calls)
		}
		if !node.Status().Privacy {
			t.Fatalf("link %d: the replayed off overrode the later on", i)
		}
	}
	// A refusal is remembered as a refusal.
	node.refuse = "consulting room"
	ref := cmdPayload("r-ref", "off", clk.Now())
	if r := l.execute(t.Context(), ref); r.Result != ResultRefused {
		t.Fatalf("refused: %+v", r)
	}
	node.refuse = ""
	if r := offlineLink(t, node, path, clk.Now).execute(t.Context(), ref); r.Result != ResultRefused || r.Reason != "consulting room" || node.offCalls() != 2 {
		t.Fatalf("repeat of a refused command: %+v, calls %v", r, node.calls)
	}
	// The file is the store's own format, bounded, and nothing else.
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte(`"r-off"`)) || len(b) > 4096 {
		t.Fatalf("store file %q: %v", b, err)
	}
}

// TestCommandIDPendingAfterCrash: the node stopped while executing a
// "privacy off" (its id recorded, its result not): after the restart a
// replay is answered "error" and not executed.
func TestCommandIDPendingAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), CommandIDsFile)
	s := openCommandIDs(path, cmdNow)
	if err := s.record(idEntry{ID: "p1", Expires: cmdNow.Add(MaxCommandAge), Result: resultPending}, cmdNow); err != nil {
		t.Fatal(err)
	}
	node := newCmdNode()
	r := offlineLink(t, node, path, func() time.Time { return cmdNow }).execute(t.Context(), cmdPayload("p1", "off", cmdNow))
	if r.Result != ResultError || !strings.Contains(r.Reason, "stopped while executing") || node.nCalls() != 0 {
		t.Fatalf("replay after a crash: %+v, calls %v", r, node.calls)
	}
}

// TestCommandIDsUnreadable: with an unreadable memory "privacy off" is
// refused (error, nothing executed) until every command it could have held
// is stale; "privacy on" is executed throughout.
func TestCommandIDsUnreadable(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":        "not json",
		"duplicate keys": `{"version":1,"ids":[],"ids":[]}`,
		"case variant":   `{"version":1,"ids":[],"IDS":[]}`,
		"no ids":         `{"version":1}`,
		"bad version":    `{"version":2,"ids":[]}`,
		"bad result":     `{"version":1,"ids":[{"id":"x","expires":"2026-11-03T10:01:00Z","result":"maybe"}]}`,
		"too large":      `{"version":1,"ids":[],"pad":"` + strings.Repeat("x", 70<<10) + `"}`,
		"directory":      "",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), CommandIDsFile)
			var err error
			if name == "directory" {
				err = os.Mkdir(path, 0o700)
			} else {
				err = os.WriteFile(path, []byte(content), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			clk := &clock{now: cmdNow}
			node := newCmdNode()
			l := offlineLink(t, node, path, clk.Now)
			r := l.execute(t.Context(), cmdPayload("u-off", "off", clk.Now()))
			if r.Result != ResultError || !strings.Contains(r.Reason, "unusable") || node.nCalls() != 0 || !node.Status().Privacy {
				t.Fatalf("off with an unreadable memory: %+v, calls %v", r, node.calls)
			}
			if r := l.execute(t.Context(), cmdPayload("u-on", "on", clk.Now())); r.Result != ResultAccepted || node.nCalls() != 1 {
				t.Fatalf("on with an unreadable memory: %+v", r)
			}
			clk.Add(2 * MaxCommandAge)
			r = l.execute(t.Context(), cmdPayload("u-off2", "off", clk.Now()))
			if name == "directory" {
				// Cannot be replaced by a file: stays unusable.
				if r.Result != ResultError || node.offCalls() != 0 {
					t.Fatalf("off with a directory in the way: %+v", r)
				}
				return
			}
			if r.Result != ResultAccepted || node.offCalls() != 1 {
				t.Fatalf("off once the window has passed: %+v, calls %v", r, node.calls)
			}
			if s := openCommandIDs(path, clk.Now()); s.broken != nil {
				t.Fatalf("memory not rewritten: %v", s.broken)
			}
		})
	}
}

// TestCommandIDsFull: when the memory holds as many ids as it may, "off"
// is answered busy and not executed, "on" is executed; as ids expire there
// is room again.
func TestCommandIDsFull(t *testing.T) {
	clk := &clock{now: cmdNow}
	node := newCmdNode()
	l := offlineLink(t, node, "", clk.Now)
	for i := range maxRememberedIDs {
		if r := l.execute(t.Context(), cmdPayload(fmt.Sprintf("f%d", i), "on", clk.Now())); r.Result != ResultAccepted {
			t.Fatalf("on %d: %+v", i, r)
		}
	}
	r := l.execute(t.Context(), cmdPayload("f-off", "off", clk.Now()))
	if r.Result != ResultBusy || r.ID != "f-off" || node.offCalls() != 0 {
		t.Fatalf("off with a full memory: %+v", r)
	}
	if r := l.execute(t.Context(), cmdPayload("f-on", "on", clk.Now())); r.Result != ResultAccepted {
		t.Fatalf("on with a full memory: %+v", r)
	}
	clk.Add(MaxCommandAge + time.Second)
	if r := l.execute(t.Context(), cmdPayload("f-off2", "off", clk.Now())); r.Result != ResultAccepted || node.offCalls() != 1 {
		t.Fatalf("off once ids expired: %+v", r)
	}
}

// TestDispatch: retained commands and commands beyond the queue are
// answered (with their id) without being executed; other topics are
// ignored.
func TestDispatch(t *testing.T) {
	node := newCmdNode()
	l := offlineLink(t, node, "", func() time.Time { return cmdNow })
	cmd := l.topics.Command

	l.dispatch(cmd, cmdPayload("ret-1", "off", cmdNow), true)
	var a answer
	select {
	case a = <-l.answers:
	default:
		t.Fatalf("retained command not answered; %d queued for execution", len(l.cmds))
	}
	if a.id != "ret-1" || a.result != ResultError || !strings.Contains(a.reason, "retained") || len(l.cmds) != 0 {
		t.Fatalf("retained: %+v, %d queued", a, len(l.cmds))
	}

	l.dispatch(l.topics.Status, cmdPayload("x", "off", cmdNow), false)
	l.dispatch(HAStatusTopic, []byte("online"), false)
	if len(l.cmds) != 0 || len(l.answers) != 0 {
		t.Fatal("a message on another topic was taken as a command")
	}

	for i := range cmdQueue + 3 {
		l.dispatch(cmd, cmdPayload(fmt.Sprintf("q%d", i), "off", cmdNow), false)
	}
	if len(l.cmds) != cmdQueue || len(l.answers) != 3 {
		t.Fatalf("%d queued, %d answered", len(l.cmds), len(l.answers))
	}
	for i := range 3 {
		a := <-l.answers // len checked above
		if a.result != ResultBusy || a.id != fmt.Sprintf("q%d", cmdQueue+i) {
			t.Fatalf("answer %d: %+v", i, a)
		}
	}
	if node.nCalls() != 0 {
		t.Fatal("dispatch executed a command")
	}
}

// FuzzDispatch: any topic, payload and retain flag through the link's
// dispatch and, when queued, its execution: never panics, every command
// gets at most one answer, "privacy off" is executed only for a valid,
// fresh, non-retained command on the command topic, and never twice.
func FuzzDispatch(f *testing.F) {
	topics := NodeTopics("camnode", "node-1")
	for _, tc := range commandCases {
		f.Add(topics.Command, []byte(tc.payload), false)
		f.Add(topics.Command, []byte(tc.payload), true)
	}
	f.Add(topics.Result, cmdPayload("x", "off", cmdNow), false)
	f.Add(HAStatusTopic, []byte("online"), false)
	f.Add("camnode/node-2/cmd/privacy", cmdPayload("x", "off", cmdNow), false)
	f.Fuzz(func(t *testing.T, topic string, payload []byte, retained bool) {
		node := newCmdNode()
		l := offlineLink(t, node, "", func() time.Time { return cmdNow })
		for range 2 { // the second time is a replay
			l.dispatch(topic, payload, retained)
			if len(l.cmds)+len(l.answers) > 1 {
				t.Fatalf("%d results for one message", len(l.cmds)+len(l.answers))
			}
			select {
			case p := <-l.cmds:
				l.execute(t.Context(), p)
			case <-l.answers:
			default:
			}
		}
		c, err := ParseCommand(payload, cmdNow)
		valid := topic == topics.Command && !retained && err == nil
		want := 0
		if valid && c.Privacy == "off" {
			want = 1
		}
		if got := node.offCalls(); got != want {
			t.Fatalf("topic %q retained %v payload %q: privacy off executed %d times, want %d", topic, retained, payload, got, want)
		}
		if !valid && node.nCalls() != 0 {
			t.Fatalf("topic %q retained %v payload %q: executed a refused message", topic, retained, payload)
		}
	})
}

// TestRefusedCommandsKeepTheirID: a bad, retained or busy command whose id
// is readable is answered with that id, and the log line says it.
func TestRefusedCommandsKeepTheirID(t *testing.T) {
	var buf firmwaretest.SyncBuffer
	node := newCmdNode()
	l, err := NewLink(Config{Client: ClientConfig{Brokers: []string{"tcp://127.0.0.1:1"}, Insecure: true},
		Node: "node-1", Now: func() time.Time { return cmdNow }, Logger: slog.New(slog.NewTextHandler(&buf, nil))}, node)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range commandCases {
		if tc.wantErr == "" || !strings.HasPrefix(tc.payload, `{"id":"c1",`) || strings.Contains(tc.payload, `"ID"`) {
			continue
		}
		buf.Reset()
		r := l.execute(t.Context(), []byte(tc.payload))
		if r.Result != ResultError || r.ID != "c1" || !strings.Contains(buf.String(), "id=c1") {
			t.Errorf("%s: result %+v, log %q", tc.name, r, buf.String())
		}
	}
	buf.Reset()
	l.dispatch(l.topics.Command, []byte(`{"id":"ret-9","privacy":"off"}`), true)
	if !strings.Contains(buf.String(), "id=ret-9") {
		t.Errorf("retained: log %q", buf.String())
	}
	for i := range cmdQueue + 1 {
		buf.Reset()
		l.dispatch(l.topics.Command, cmdPayload(fmt.Sprintf("b%d", i), "off", cmdNow), false)
	}
	if !strings.Contains(buf.String(), fmt.Sprintf("id=b%d", cmdQueue)) {
		t.Errorf("busy: log %q", buf.String())
	}
	if node.nCalls() != 0 {
		t.Fatal("executed a refused command")
	}
}
