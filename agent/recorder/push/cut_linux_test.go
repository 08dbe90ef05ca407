// SPDX-License-Identifier: Apache-2.0

package push

import (
	"slices"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/internal/sockqtest"
)

func (p *Publisher) current() *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess
}

// Privacy on while the hub has stopped reading, so that access units pile
// up in the node's send queue and in the kernel's send buffer: after Cut
// returns, nothing more reaches the hub. The hub may still read what its
// own kernel had received before the cut (it left the node before), and
// nothing beyond it. A cut that closes the connection politely (the
// kernel flushes its send buffer, then FIN) fails this test.
func TestCutDiscardsUnsent(t *testing.T) {
	c := newCreds(t, "x")
	h := newHub(t, hubOpts{tls: c.hubTLS(t, true)})
	audit := newAuditLog()
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey,
		Auditor: audit, QueueBytes: 16 << 20, Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publishAndCheck(t, p, h)
	socks := h.sockets()
	srv := socks[len(socks)-1]

	h.setStall(true)
	seq := 1000
	waitFor(t, "a backlog in the node's send buffer and queue", func() bool {
		for range 4 {
			p.WriteAU(testAU(seq, seq%10 == 0, 60000))
			seq++
		}
		s := p.current()
		if s == nil {
			t.Fatal("session ended while filling")
		}
		return sockqtest.Unsent(t, s.conn.raw) > 64<<10 && p.q.Queued() > 0
	})
	s := p.current()
	unsent := sockqtest.Unsent(t, s.conn.raw)

	p.Cut()

	// The reset reaches the hub's kernel at once; a polite close would
	// first have to deliver the backlog (which the stalled hub does not
	// take), so this wait only ends by its deadline then, and the count
	// below fails.
	deadline := time.Now().Add(5 * time.Second)
	for sockqtest.Established(t, srv.tcp) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	inq := sockqtest.Unread(t, srv.tcp)
	bound := srv.read.Load() + int64(inq)

	h.setStall(false)
	waitFor(t, "the hub to see the connection end", func() bool { return srv.err() != nil })
	if got := srv.read.Load(); got > bound {
		t.Fatalf("%d bytes reached the hub after Cut returned (node had %d unsent in its kernel; hub had read %d and held %d)",
			got-bound, unsent, bound-int64(inq), inq)
	}
	rec := <-audit.ch
	if rec.View == nil || rec.View.Ended != EndPrivacy {
		t.Errorf("session audited as ended %+v; want %q", rec.View, EndPrivacy)
	}

	// Frames flow again: a new session, which never carries an access
	// unit from before the cut.
	before, _ := h.received()
	next := 5000
	waitFor(t, "the hub to decode frames of the new session", func() bool {
		feed(p, next, next+5, 3000)
		next += 5
		seqs, _ := h.received()
		return slices.ContainsFunc(seqs[len(before):], func(s int) bool { return s >= 5010 })
	})
	seqs, _ := h.received()
	for _, s := range seqs[len(before):] {
		if s < 5000 {
			t.Fatalf("access unit %d, queued before the cut, sent after it: %v", s, seqs[len(before):])
		}
	}
	if h.records.Load() != 2 {
		t.Errorf("%d sessions; want 2", h.records.Load())
	}
}

// A cut while the connection is being set up (the hub accepted TCP but
// answers nothing: TLS hangs) returns, resets the half-open connection and
// leaves no session and no further attempt behind.
func TestCutWhileConnecting(t *testing.T) {
	c := newCreds(t, "x")
	h := newHub(t, hubOpts{tls: c.hubTLS(t, true)})
	h.setStall(true) // new connections are not read: the handshake hangs
	audit := newAuditLog()
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey,
		Auditor: audit, Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	feed(p, 0, 1, 100)
	waitFor(t, "the hub to accept the connection", func() bool { return len(h.sockets()) == 1 })
	srv := h.sockets()[0]
	cut := make(chan struct{})
	go func() { p.Cut(); close(cut) }()
	waitFor(t, "Cut to return", func() bool {
		select {
		case <-cut:
			return true
		default:
			return false
		}
	})
	waitFor(t, "the reset at the hub", func() bool { return !sockqtest.Established(t, srv.tcp) })
	p.mu.Lock()
	running, sess := p.running, p.sess
	p.mu.Unlock()
	if running || sess != nil || h.records.Load() != 0 || len(h.sockets()) != 1 {
		t.Fatalf("after the cut: running %v, session %v, %d recorded, %d connections", running, sess, h.records.Load(), len(h.sockets()))
	}
}

// A hub that stops reading for longer than Timeout ends the session
// ("send stalled"), which is audited, and the publisher reconnects.
func TestStalledHubEndsSession(t *testing.T) {
	c := newCreds(t, "x")
	h := newHub(t, hubOpts{tls: c.hubTLS(t, true)})
	audit := newAuditLog()
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey,
		Auditor: audit, Timeout: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publishAndCheck(t, p, h)
	h.setStall(true)
	var ended string
	seq := 1000
	waitFor(t, "the session to end", func() bool {
		p.WriteAU(testAU(seq, seq%10 == 0, 60000))
		seq++
		select {
		case r := <-audit.ch:
			ended = r.View.Ended
			return true
		default:
			return false
		}
	})
	if ended != EndQueue {
		t.Fatalf("session ended %q; want %q", ended, EndQueue)
	}
	h.setStall(false)
	waitFor(t, "a new session", func() bool {
		p.WriteAU(testAU(seq, seq%10 == 0, 1000))
		seq++
		return h.records.Load() >= 2
	})
}
