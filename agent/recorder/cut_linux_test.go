// SPDX-License-Identifier: Apache-2.0

//go:build linux

package recorder

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent/internal/sockqtest"
)

// serverConn is the server side of the one connection the test made.
func (ts *testServer) serverConn(t *testing.T) *net.TCPConn {
	t.Helper()
	ts.s.ln.mu.Lock()
	defer ts.s.ln.mu.Unlock()
	if len(ts.s.ln.conns) != 1 {
		t.Fatalf("%d server connections, want 1", len(ts.s.ln.conns))
	}
	for _, c := range ts.s.ln.conns {
		return c.raw
	}
	return nil
}

// TestCutStalledReader is invariant 2 for the recorder stream: a recorder
// that stops reading lets data pile up in its session's send queue and in
// the kernel's send buffer; after Cut returns (privacy acknowledged),
// nothing captured before the cut may reach it. Every access unit in this
// test is captured before the cut, so the reader may get nothing beyond
// what was already in its own receive buffer when Cut returned.
func TestCutStalledReader(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "rtsps"
		if plain {
			name = "plain-loopback"
		}
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, plain)
			f := startFeeder(ts.s, 1300, 30)
			stopped := false
			defer func() {
				if !stopped {
					f.Stop()
				}
			}()
			var c *rawClient
			var h base.Header
			if plain {
				c = dialRaw(t, ts.addr, nil)
				c.login(t, "vms", vmsPassword)
			} else {
				c = dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
			}
			c.play(t, h)
			// Read until stamped frames arrive, then stop reading.
			for got := 0; got < 10; {
				fr, err := c.frame()
				if err != nil {
					t.Fatal(err)
				}
				if fr.Channel == 0 {
					got++
				}
			}
			// Wait (condition, generous deadline) until the server's send
			// buffer holds data, then go on writing until the session's
			// send queue is full as well: it drops access units.
			srv := ts.serverConn(t)
			deadline := time.Now().Add(60 * time.Second)
			for sockqtest.Unsent(t, srv) < 64<<10 {
				if time.Now().After(deadline) {
					t.Fatalf("server send buffer never filled (outq %d)", sockqtest.Unsent(t, srv))
				}
				time.Sleep(10 * time.Millisecond)
			}
			for ts.dropped() == 0 { // the send buffer is full, and so is the session's queue
				if time.Now().After(deadline) {
					t.Fatalf("the session's send queue never filled (outq %d)", sockqtest.Unsent(t, srv))
				}
				time.Sleep(10 * time.Millisecond)
			}
			last := f.Stop() // as the pipeline's epoch does: no WriteAU after the cut
			stopped = true
			outq := sockqtest.Unsent(t, srv)

			ts.node.private.Store(true)
			ts.s.Cut() // returns before the privacy request is acknowledged
			// The acknowledgement: what the reader holds in its receive
			// buffer now arrived before it.
			before := c.raw.n.Load() + int64(sockqtest.Unread(t, c.raw.TCPConn))

			var after, leaked []uint32
			_ = c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			for {
				fr, err := c.frame()
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the connection was not closed by the cut")
					}
					break
				}
				if fr.Channel != 0 {
					continue
				}
				var p rtp.Packet
				if p.Unmarshal(fr.Payload) != nil {
					continue
				}
				if seq, ok := stampOf(p.Payload); ok {
					after = append(after, seq)
					if c.raw.n.Load() > before {
						leaked = append(leaked, seq)
					}
				}
			}
			t.Logf("%d access units written, server send queue %d bytes at the cut; reader got %d frames from its own buffer, %d after the ack",
				last, outq, len(after)-len(leaked), len(leaked))
			if len(leaked) > 0 {
				t.Fatalf("%d frames captured before the cut arrived after the acknowledgement (first %d, last %d)",
					len(leaked), leaked[0], leaked[len(leaked)-1])
			}

			if rec := ts.node.waitRecord(t); rec.Kind != "recording_start" {
				t.Fatalf("first audit record %+v, want the session's start", rec)
			}
			rec := ts.node.waitRecord(t)
			if rec.Kind != "recording" || rec.View == nil || rec.View.Ended != "privacy: gate closed" || rec.View.Frames == 0 || rec.View.Bytes == 0 {
				t.Fatalf("audit record %+v %+v", rec, rec.View)
			}

			// While private: a clear refusal.
			var c2 *rawClient
			if plain {
				c2 = dialRaw(t, ts.addr, nil)
				c2.login(t, "vms", vmsPassword)
			} else {
				c2 = dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
			}
			res := c2.do(t, base.Describe, c2.url, cloneHeader(h))
			if res.StatusCode != base.StatusServiceUnavailable || !strings.Contains(res.StatusMessage, "privacy is on") {
				t.Fatalf("DESCRIBE while private: %d %q, want 503 privacy is on", res.StatusCode, res.StatusMessage)
			}
		})
	}
}
