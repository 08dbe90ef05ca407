// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/jonboulle/clockwork"

	"github.com/camnode/camnode/agent"
)

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// linkStates collects what a link reports through OnLinkStatus.
type linkStates struct {
	mu     sync.Mutex
	last   agent.LinkStatus
	notify chan struct{}
}

func (s *linkStates) set(l agent.LinkStatus) {
	s.mu.Lock()
	s.last = l
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// wait returns the first reported state for which cond holds.
func (s *linkStates) wait(t *testing.T, what string, cond func(agent.LinkStatus) bool) agent.LinkStatus {
	t.Helper()
	deadline := time.After(30 * time.Second) // to fail instead of hanging
	for {
		s.mu.Lock()
		l := s.last
		s.mu.Unlock()
		if cond(l) {
			return l
		}
		select {
		case <-s.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; last link state %+v", what, l)
		}
	}
}

// TestLinkConnectBackoff: the broker is unreachable. Every attempt fails
// once (no second attempt with MQTT 3.1), the wait before the next grows
// 1, 2, 4, ... 30 s from the first failure (on a fake clock: the test
// advances it to each announced attempt), the status carries the state,
// the failure count and the explained last error, and the log has the
// first failure and then only a few.
func TestLinkConnectBackoff(t *testing.T) {
	fc := clockwork.NewFakeClock()
	states := &linkStates{notify: make(chan struct{}, 1)}
	var logs firmwaretest.SyncBuffer
	l, err := NewLink(Config{
		Client:       ClientConfig{Brokers: []string{"tcp://" + closedPort(t)}, Insecure: true},
		Node:         "node-b",
		Clock:        fc,
		OnLinkStatus: states.set,
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	}, testNode{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i, w := range want {
		n := i + 1
		st := states.wait(t, "failure "+string(rune('0'+n)), func(s agent.LinkStatus) bool {
			return s.Failures == n && !s.NextAttempt.IsZero()
		})
		if st.State != LinkDown || !strings.Contains(st.LastError, "connection refused") || st.LastErrorAt.IsZero() {
			t.Fatalf("attempt %d: link status %+v", n, st)
		}
		if got := st.NextAttempt.Sub(fc.Now()); got != w*time.Second {
			t.Fatalf("after failure %d the next attempt is in %v, want %v", n, got, w*time.Second)
		}
		fc.Advance(w * time.Second)
	}
	// 8 failures: logged at the 1st, 2nd, 4th and 8th (same cause), not 8 times.
	if got := strings.Count(logs.String(), "cannot connect to the broker"); got != 4 {
		t.Fatalf("%d connect failures logged, want 4:\n%s", got, logs.String())
	}
}

// ackCases are audit acknowledgements and whether the node takes them.
var ackCases = []struct {
	name, payload string
	ok            bool
}{
	{"one id", `{"ids":["a1"]}`, true},
	{"several", `{"ids":["a1","b-2","c.3:4_5"]}`, true},
	{"with head", `{"ids":["a1"],"head":{"seq":4,"hash":"abababababababababababababababababababababababababababababababab"}}`, true},
	{"head not an object", `{"ids":["a1"],"head":"x"}`, false},
	{"head short hash", `{"ids":["a1"],"head":{"seq":4,"hash":"ab"}}`, false},
	{"head upper-case hash", `{"ids":["a1"],"head":{"seq":4,"hash":"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"}}`, false},
	{"head seq 0", `{"ids":["a1"],"head":{"seq":0,"hash":"abababababababababababababababababababababababababababababababab"}}`, false},
	{"head without seq", `{"ids":["a1"],"head":{"hash":"abababababababababababababababababababababababababababababababab"}}`, false},
	{"head with more", `{"ids":["a1"],"head":{"seq":4,"hash":"abababababababababababababababababababababababababababababababab","time":"x"}}`, false},
	{"head negative seq", `{"ids":["a1"],"head":{"seq":-1,"hash":"abababababababababababababababababababababababababababababababab"}}`, false},
	{"no ids", `{"ids":[]}`, false},
	{"ids null", `{"ids":null}`, false},
	{"ids missing", `{}`, false},
	{"case variant", `{"IDS":["a1"]}`, false},
	{"case duplicate", `{"ids":["a1"],"Ids":["b1"]}`, false},
	{"duplicate", `{"ids":["a1"],"ids":["b1"]}`, false},
	{"unknown member", `{"ids":["a1"],"x":1}`, false},
	{"bad id", `{"ids":["a/1"]}`, false},
	{"empty id", `{"ids":[""]}`, false},
	{"long id", `{"ids":["` + strings.Repeat("a", 65) + `"]}`, false},
	{"not an object", `["a1"]`, false},
	{"trailing data", `{"ids":["a1"]} x`, false},
	{"too many", `{"ids":[` + strings.Repeat(`"a",`, MaxAckIDs) + `"a"]}`, false},
}

func TestParseAuditAck(t *testing.T) {
	for _, tc := range ackCases {
		_, err := ParseAuditAck([]byte(tc.payload))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if a, err := ParseAuditAck(AckPayload("x1", "x2")); err != nil || len(a.IDs) != 2 {
		t.Fatalf("AckPayload does not parse: %+v %v", a, err)
	}
}

// TestStatusSchemaLink: a status with the link's state and an outbox with
// an oldest record validates against status.schema.json.
func TestStatusSchemaLink(t *testing.T) {
	s := loadSchema(t, "status.schema.json")
	now := time.Now().UTC()
	st := testStatus().WithLink(&agent.LinkStatus{State: LinkDown, LastError: "x", LastErrorAt: now, Failures: 2,
		NextAttempt: now, AuditUnacked: 1, AuditOldest: now, Fault: "CN"})
	b, _ := json.Marshal(MakeStatus(st, now, nil, OutboxStats{Pending: 1, Oldest: now}))
	if err := s.validate(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if st.Faults[agent.FaultHubLink] != "CN" {
		t.Fatalf("faults %v", st.Faults)
	}
}
