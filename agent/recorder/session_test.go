// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/pion/rtp"
)

// TestSessionRTP: a session's RTP (written by its sender, not gortsplib)
// follows the PLAY response (the raw client reads the response first, so
// a frame before it fails play), on the interleaved channel the client
// chose in SETUP, with the SSRC SETUP announced, and starts at an IDR.
func TestSessionRTP(t *testing.T) {
	ts := newTestServer(t, false)
	f := startFeeder(ts.s, 500, 10)
	defer f.Stop()
	c := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
	c.play(t, base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=6-7"}})
	if c.transport.InterleavedIDs == nil || c.transport.InterleavedIDs[0] != 6 || c.transport.SSRC == nil {
		t.Fatalf("SETUP's Transport %+v, want interleaved 6-7 and an SSRC", c.transport)
	}
	first := true
	for got := 0; got < 20; {
		fr, err := c.frame()
		if err != nil {
			t.Fatal(err)
		}
		if fr.Channel != 6 {
			t.Fatalf("a frame on channel %d, want 6", fr.Channel)
		}
		var p rtp.Packet
		if err := p.Unmarshal(fr.Payload); err != nil {
			t.Fatal(err)
		}
		if p.SSRC != *c.transport.SSRC {
			t.Fatalf("SSRC %08x, SETUP announced %08x", p.SSRC, *c.transport.SSRC)
		}
		if _, ok := stampOf(p.Payload); !ok {
			continue
		}
		if first && p.Payload[0]&0x1f != 5 {
			t.Fatalf("the session starts with a slice of NAL type %d, want an IDR (5)", p.Payload[0]&0x1f)
		}
		first = false
		got++
	}
}

// TestStalledReaderDropped: a recorder that stops reading loses access
// units up to the next IDR while its queue is full, and once one write
// stays blocked for WriteTimeout its connection is aborted and the session
// audited with why.
func TestStalledReaderDropped(t *testing.T) {
	ts := newTestServer(t, false)
	ts.s.cfg.WriteTimeout = 300 * time.Millisecond // before any session's sender starts
	f := startFeeder(ts.s, 1300, 30)
	defer f.Stop()
	c := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
	c.play(t, nil)
	if rec := ts.node.waitRecord(t); rec.Kind != "recording_start" {
		t.Fatalf("first audit record %+v, want the session's start", rec)
	}
	// It stops reading now; the end record comes when the write times out.
	rec := ts.node.waitRecord(t)
	if rec.Kind != "recording" || rec.View == nil || !strings.Contains(rec.View.Ended, "stopped reading") {
		t.Fatalf("audit record %+v %+v, want the session ended for not reading", rec, rec.View)
	}
	if n := ts.s.Sessions(); n != 0 {
		t.Fatalf("%d sessions after the stalled one ended", n)
	}
}

// TestPauseStopsRTP: after PAUSE is answered, no frame follows until PLAY
// again, and the session resumes at an IDR.
func TestPauseStopsRTP(t *testing.T) {
	ts := newTestServer(t, false)
	f := startFeeder(ts.s, 500, 10)
	defer f.Stop()
	c := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
	c.play(t, nil)
	for got := 0; got < 3; got++ {
		if _, err := c.frame(); err != nil {
			t.Fatal(err)
		}
	}
	// PAUSE; frames already on their way may come before its response.
	c.cseq++
	u, _ := base.ParseURL(c.url)
	b, _ := base.Request{Method: base.Pause, URL: u, Header: base.Header{
		"CSeq": base.HeaderValue{strconv.Itoa(c.cseq)}, "Session": base.HeaderValue{c.sess}}}.Marshal()
	if _, err := c.conn.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		p, err := c.br.Peek(1)
		if err != nil {
			t.Fatal(err)
		}
		if p[0] != '$' {
			break
		}
		if _, err := c.frame(); err != nil {
			t.Fatal(err)
		}
	}
	var res base.Response
	if err := res.Unmarshal(c.br); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("PAUSE: %v %d", err, res.StatusCode)
	}
	// Paused: 25 access units (an IDR among them) go by unsent; then PLAY
	// again is answered before any frame (the raw client's do fails on a
	// frame before the response).
	seen := f.next.Load()
	for f.next.Load() < seen+25 {
		time.Sleep(time.Millisecond) // the feeder's pace, not synchronisation: PLAY's response proves order
	}
	if res := c.do(t, base.Play, c.url, nil); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY again: %d %s", res.StatusCode, res.StatusMessage)
	}
	for {
		fr, err := c.frame()
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		if p.Unmarshal(fr.Payload) != nil {
			t.Fatal("not RTP")
		}
		if _, ok := stampOf(p.Payload); ok {
			if p.Payload[0]&0x1f != 5 {
				t.Fatalf("resumed with NAL type %d, want an IDR", p.Payload[0]&0x1f)
			}
			return
		}
	}
}
