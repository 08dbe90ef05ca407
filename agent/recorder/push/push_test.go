// SPDX-License-Identifier: Apache-2.0

package push

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/camnode/camnode/agent"
)

// publishAndCheck feeds frames until the hub decoded 30 access units and
// checks what it got: an IDR first, then increasing sequence numbers.
func publishAndCheck(t *testing.T, p *Publisher, h *testHub) {
	t.Helper()
	next := 0
	waitFor(t, "the hub to decode 30 access units", func() bool {
		feed(p, next, next+5, 3000) // also fragmented (FU-A)
		next += 5
		seqs, _ := h.received()
		return len(seqs) >= 30
	})
	seqs, keys := h.received()
	if !keys[0] {
		t.Errorf("first access unit %d is not an IDR", seqs[0])
	}
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Errorf("access units out of order or repeated: %v", seqs)
	}
	desc := <-h.announce
	if len(desc.Medias) != 1 || len(desc.Medias[0].Formats) != 1 {
		t.Fatalf("announced %d medias; want one H.264 track", len(desc.Medias))
	}
	if _, ok := desc.Medias[0].Formats[0].(*format.H264); !ok {
		t.Fatalf("announced %T; want H.264", desc.Medias[0].Formats[0])
	}
}

// TestPublishClientCertificate: a session publishes and is audited: its
// start (recording_start) is on the trail before the hub gets its first
// packet, its end (recording) carries the same session id.
func TestPublishClientCertificate(t *testing.T) {
	c := newCreds(t, "unused")
	audit := newAuditLog()
	var startedFirst atomic.Pointer[[]agent.AuditRecord]
	h := newHub(t, hubOpts{tls: c.hubTLS(t, true), firstPacket: func() {
		recs := audit.records()
		startedFirst.CompareAndSwap(nil, &recs)
	}})
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey,
		Auditor: audit})
	if err != nil {
		t.Fatal(err)
	}
	publishAndCheck(t, p, h)
	if cns := h.cns(); len(cns) == 0 || cns[0] != "node-1" {
		t.Errorf("hub saw client certificates %v; want node-1", cns)
	}
	p.Close()
	rec := <-audit.ch
	v := rec.View
	if rec.Kind != "recording" || rec.Source != Source || v == nil || v.Role != RolePush || v.Ended != EndClosed ||
		v.Remote != h.url("rtsps") || v.Frames == 0 || v.Bytes == 0 || v.End.Before(v.Start) {
		t.Errorf("audit record %+v %+v", rec, v)
	}
	if strings.Contains(v.Remote, "@") {
		t.Errorf("credentials in the audit: %q", v.Remote)
	}
	before := startedFirst.Load()
	if before == nil || len(*before) != 1 || (*before)[0].Kind != "recording_start" {
		t.Fatalf("audit records when the hub got its first packet: %+v, want the session's start", before)
	}
	start := (*before)[0]
	if s := start.View; start.Source != Source || start.Actor != rec.Actor || s == nil || s.Session != v.Session ||
		s.Session == "" || !s.Start.Equal(v.Start) || s.Role != RolePush || s.Remote != v.Remote || s.Frames != 0 ||
		s.Ended != "" || !s.End.IsZero() {
		t.Fatalf("start record %+v %+v does not pair with the end record %+v", start, s, v)
	}
	for _, r := range []agent.AuditRecord{start, rec} {
		if err := r.CheckSession(); err != nil {
			t.Errorf("%s record: %v", r.Kind, err)
		}
	}
}

// TestUnauditedSessionRefused: while the auditor cannot record a session's
// start, the publisher sends the hub nothing (the session is closed after
// RECORD, before any packet), logs why and retries with backoff; once the
// auditor works again, it publishes.
func TestUnauditedSessionRefused(t *testing.T) {
	c := newCreds(t, "unused")
	h := newHub(t, hubOpts{tls: c.hubTLS(t, true)})
	audit := newAuditLog()
	audit.setFail(errors.New("disk full"))
	logs := &logSink{}
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey,
		Auditor: audit, Logger: slog.New(logs), MinBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitFor(t, "two refused sessions", func() bool {
		feed(p, 0, 10, 3000)
		return h.records.Load() >= 2 && p.failures.Load() >= 2
	})
	if n := h.packets.Load(); n != 0 || p.sessions.Load() != 0 || p.Connected() {
		t.Fatalf("%d packets reached the hub, %d sessions, while the auditor failed", n, p.sessions.Load())
	}
	if msg, ok := logs.find("cannot publish"); !ok || !strings.Contains(msg, "audit trail cannot record") || !strings.Contains(msg, "disk full") {
		t.Fatalf("log %q; want the audit failure", msg)
	}
	audit.setFail(nil)
	publishAndCheck(t, p, h)
	if recs := audit.records(); len(recs) == 0 || recs[0].Kind != "recording_start" {
		t.Fatalf("audit after recovery: %+v, want the session's start first", recs)
	}
}

func TestPublishDigest(t *testing.T) {
	c := newCreds(t, "s3cret pass")
	h := newHub(t, hubOpts{tls: c.hubTLS(t, false), user: "node-1", pass: "s3cret pass"})
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), User: "node-1", PasswordFile: c.passwordFile})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publishAndCheck(t, p, h)
}

// Refused credentials, a hub whose certificate the site CA did not sign,
// a port nobody listens on: the publisher says why, backs off and tries
// again; nothing is published, nothing panics or hangs.
func TestPublishFailures(t *testing.T) {
	c := newCreds(t, "wrong")
	other := newCreds(t, "x")
	for _, tc := range []struct {
		name string
		hub  hubOpts
		cfg  func(h *testHub) Config
		want string // in the logged error
	}{
		{"wrong password", hubOpts{tls: c.hubTLS(t, false), user: "node-1", pass: "right"},
			func(h *testHub) Config {
				return Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), User: "node-1", PasswordFile: c.passwordFile}
			}, "401"},
		{"no client certificate", hubOpts{tls: c.hubTLS(t, true)},
			func(h *testHub) Config {
				return Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), User: "node-1", PasswordFile: c.passwordFile}
			}, "certificate"},
		{"hub not signed by the site CA", hubOpts{tls: other.hubTLS(t, false)},
			func(h *testHub) Config {
				return Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey}
			}, "TLS"},
		{"plaintext hub", hubOpts{},
			func(h *testHub) Config {
				return Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey}
			}, "TLS"},
		{"wrong path", hubOpts{tls: c.hubTLS(t, false)},
			func(h *testHub) Config {
				return Config{URL: "rtsps://" + h.addr + "/other", CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey}
			}, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, tc.hub)
			logs := &logSink{}
			cfg := tc.cfg(h)
			cfg.Logger = slog.New(logs)
			cfg.MinBackoff = 10_000_000 // 10 ms: several attempts quickly
			cfg.MaxBackoff = cfg.MinBackoff
			cfg.Timeout = time.Second // the plaintext hub never answers the TLS hello
			audit := newAuditLog()
			cfg.Auditor = audit
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			feed(p, 0, 1, 100)
			waitFor(t, "a second attempt", func() bool { return p.failures.Load() >= 2 && h.conns.Load() >= 2 })
			p.Cut()
			n := p.failures.Load()
			msg, ok := logs.find("cannot publish")
			if !ok || !strings.Contains(msg, tc.want) {
				t.Errorf("log %q; want an error naming %q", msg, tc.want)
			}
			if h.records.Load() != 0 || p.sessions.Load() != 0 {
				t.Errorf("%d sessions recorded", h.records.Load())
			}
			p.Close()
			if p.failures.Load() != n {
				t.Errorf("attempts after Cut")
			}
			if len(audit.recs) != 0 {
				t.Errorf("audited sessions that never started: %+v", audit.recs)
			}
		})
	}
}

// The hub goes away in the middle of a session: the session is audited
// with the hub's error and the publisher tries again.
func TestHubGone(t *testing.T) {
	c := newCreds(t, "x")
	h := newHub(t, hubOpts{tls: c.hubTLS(t, true)})
	audit := newAuditLog()
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey,
		Auditor: audit, MinBackoff: 10_000_000, MaxBackoff: 20_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publishAndCheck(t, p, h)
	h.srv.Close()
	rec := <-audit.ch // the ending is noticed by the reader or the sender
	if !strings.HasPrefix(rec.View.Ended, EndHub) && rec.View.Ended != EndQueue {
		t.Errorf("session ended %q; want the hub's error", rec.View.Ended)
	}
	f := p.failures.Load()
	waitFor(t, "a reconnect attempt", func() bool {
		feed(p, 100, 101, 100)
		return p.failures.Load() > f
	})
}

// TestOnChange: the publisher reports each change of Connected (a session
// recording, then cut) through Config.OnChange, so the node's status can
// be republished at once; Connected and Target say what it is.
func TestOnChange(t *testing.T) {
	h := newHub(t, hubOpts{})
	changes := make(chan bool, 16)
	var p *Publisher
	p, err := New(Config{URL: h.url("rtsp"), Insecure: true, OnChange: func() { changes <- p.Connected() }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Target() != h.url("rtsp") || p.Connected() {
		t.Fatalf("before frames: target %q connected %v", p.Target(), p.Connected())
	}
	next := 0
	waitFor(t, "the publisher to report a session", func() bool {
		feed(p, next, next+5, 3000)
		next += 5
		select {
		case c := <-changes:
			if !c {
				t.Fatal("first change reported not connected")
			}
			return true
		default:
			return false
		}
	})
	p.Cut()
	select {
	case c := <-changes:
		if c {
			t.Fatal("change after the cut reported connected")
		}
	default:
		t.Fatal("Cut returned without reporting the change")
	}
}
