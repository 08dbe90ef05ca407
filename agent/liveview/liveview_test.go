// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent/internal/waittest"
	"github.com/camnode/camnode/agent/pipeline"
)

// post sends a WHEP offer to the handler.
func post(h http.Handler, tok, ctype, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/whep", strings.NewReader(body))
	r.RemoteAddr = "192.0.2.7:40000"
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func readSDP(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdp", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRefusals: every bad request gets a clear 4xx/503, opens no session,
// writes no audit record and leaves the token unused.
func TestRefusals(t *testing.T) {
	k := newKeys(t)
	s, n := newServer(t, k, nil, func(c *Config) { c.FailBurst = 1000 })
	markLive(s)
	h := s.Handler()
	offer := readSDP(t, "chromium-audio-video.sdp")
	now := time.Now()

	type tc struct {
		name       string
		tok        string
		ctype      string
		body       string
		private    bool
		code       int
		tokenFresh bool // a valid token that must still be usable afterwards
	}
	var cases []tc
	for _, c := range tokenCases() {
		cases = append(cases, tc{name: "token " + c.name, tok: c.make(k, now), ctype: "application/sdp", body: offer, code: c.code})
	}
	good := func() string { return k.mint(t, now, 5*time.Minute) }
	cases = append(cases,
		tc{name: "no content type", tok: good(), body: offer, code: http.StatusUnsupportedMediaType, tokenFresh: true},
		tc{name: "json content type", tok: good(), ctype: "application/json", body: offer, code: http.StatusUnsupportedMediaType, tokenFresh: true},
		tc{name: "oversized", tok: good(), ctype: "application/sdp", body: strings.Repeat("a=x\r\n", MaxOfferSize/5+10), code: http.StatusRequestEntityTooLarge, tokenFresh: true},
		tc{name: "privacy on", tok: good(), ctype: "application/sdp", body: offer, private: true, code: http.StatusServiceUnavailable, tokenFresh: true},
	)
	entries, _ := os.ReadDir(filepath.Join("testdata", "sdp"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "bad-") {
			cases = append(cases, tc{name: "sdp " + e.Name(), tok: good(), ctype: "application/sdp; charset=utf-8",
				body: readSDP(t, e.Name()), code: http.StatusBadRequest, tokenFresh: true})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n.setPrivate(c.private)
			defer n.setPrivate(false)
			w := post(h, c.tok, c.ctype, c.body)
			if w.Code != c.code {
				t.Fatalf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), c.code)
			}
			if strings.TrimSpace(w.Body.String()) == "" {
				t.Error("no reason in the body")
			}
			if v := s.Viewers(); v != 0 {
				t.Fatalf("%d viewers after a refusal", v)
			}
			if r := n.Records(); len(r) != 0 {
				t.Fatalf("audit records after a refusal: %v", r)
			}
			if c.tokenFresh {
				if _, err := s.verify.Verify(c.tok); err != nil {
					t.Fatalf("refusal consumed or broke the token: %v", err)
				}
			}
		})
	}
	t.Run("delete unknown", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodDelete, "/whep/0123", nil))
		if w.Code != http.StatusNotFound {
			t.Fatalf("status %d", w.Code)
		}
	})
}

// TestRateLimit: failures are limited per address, valid tokens never
// are: after 20 bad tokens from one address (the hub's, say), bad ones get
// 429 but a valid token from the same address still opens a session.
func TestRateLimit(t *testing.T) {
	k := newKeys(t)
	clock := clockwork.NewFakeClockAt(time.Now())
	s, _ := newServer(t, k, clock, func(c *Config) { c.FailBurst, c.FailRate = 3, 1 })
	markLive(s)
	h := s.Handler()
	for i := range 20 {
		want := http.StatusUnauthorized
		if i >= 3 {
			want = http.StatusTooManyRequests // the bucket is empty
		}
		if w := post(h, "bogus", "application/sdp", "v=0"); w.Code != want {
			t.Fatalf("bad token %d: %d, want %d", i, w.Code, want)
		}
	}
	// A valid token from the same address is verified and accepted.
	r := newReceiver(t, false)
	if w := post(h, k.mint(t, clock.Now(), time.Minute), "application/sdp", r.offer(t)); w.Code != http.StatusCreated {
		t.Fatalf("valid token from a throttled address: %d %s, want 201", w.Code, w.Body.String())
	}
	// A valid token with a bad offer is not a failed attempt either: 400.
	if w := post(h, k.mint(t, clock.Now(), time.Minute), "application/sdp", "v=0"); w.Code != http.StatusBadRequest {
		t.Fatalf("valid token, bad offer, throttled address: %d, want 400", w.Code)
	}
	// Bad ones still get 429, ...
	if w := post(h, "bogus", "application/sdp", "v=0"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("bad token after a good one: %d, want 429", w.Code)
	}
	// ... other addresses are not affected, ...
	other := httptest.NewRequest(http.MethodPost, "/whep", strings.NewReader("v=0"))
	other.RemoteAddr = "198.51.100.9:1234"
	other.Header.Set("Authorization", "Bearer bogus")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, other)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("bad token from another address: %d, want 401", w.Code)
	}
	// ... and the bucket refills.
	clock.Advance(1100 * time.Millisecond)
	if w := post(h, "bogus", "application/sdp", "v=0"); w.Code != http.StatusUnauthorized {
		t.Fatalf("after refill: %d, want 401", w.Code)
	}
}

// TestRateLimitGlobalBudget: verifications for throttled addresses share
// a global budget; beyond it they get 429 unverified, so a flood cannot
// make the node verify without bound. Unthrottled addresses are not
// affected.
func TestRateLimitGlobalBudget(t *testing.T) {
	k := newKeys(t)
	clock := clockwork.NewFakeClockAt(time.Now())
	s, _ := newServer(t, k, clock, func(c *Config) { c.FailBurst, c.FailRate = 1, 0.001 })
	markLive(s)
	h := s.Handler()
	post(h, "bogus", "application/sdp", "v=0") // throttles 192.0.2.7
	for range throttledVerifyBurst {
		post(h, "bogus", "application/sdp", "v=0")
	}
	if w := post(h, k.mint(t, clock.Now(), time.Minute), "application/sdp", "v=0"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("budget spent: %d, want 429", w.Code)
	}
	clock.Advance(time.Second)
	if w := post(h, k.mint(t, clock.Now(), time.Minute), "application/sdp", "v=0"); w.Code != http.StatusBadRequest {
		t.Fatalf("budget refilled: %d, want 400 (token accepted, offer bad)", w.Code)
	}
}

// session opens a pion viewer through the handler and waits for media.
func openSession(t *testing.T, s *Server, tok string, interceptors bool) (*receiver, string) {
	t.Helper()
	r := newReceiver(t, interceptors)
	w := post(s.Handler(), tok, "application/sdp", r.offer(t))
	if w.Code != http.StatusCreated {
		t.Fatalf("offer: %d %s", w.Code, w.Body.String())
	}
	loc := w.Header().Get("Location")
	if !strings.HasPrefix(loc, "/whep/") || w.Header().Get("Content-Type") != "application/sdp" {
		t.Fatalf("Location %q Content-Type %q", loc, w.Header().Get("Content-Type"))
	}
	// The session's start is on the audit trail before the viewer has
	// the answer, so before any frame can reach it.
	if n, ok := s.node.Load().Node.(*fakeNode); ok {
		started := false
		for _, rec := range n.Started() {
			started = started || rec.View.Session == strings.TrimPrefix(loc, "/whep/")
		}
		if !started {
			t.Fatalf("no view_start record for %s before the viewer got its answer", loc)
		}
	}
	r.answer(t, w.Body.String())
	waitFor(t, r.connect, 10*time.Second, "connection")
	waitCond(t, 10*time.Second, "the node to see the viewer connected", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		sess := s.sessions[strings.TrimPrefix(loc, "/whep/")]
		return sess != nil && sess.connected.Load()
	})
	return r, loc
}

func TestSessionMediaDeleteReplay(t *testing.T) {
	k := newKeys(t)
	s, n := newServer(t, k, nil)
	feedFrames(t, s, 640, 480)
	tok := k.mint(t, time.Now(), 5*time.Minute)
	r, loc := openSession(t, s, tok, true)
	// Media: complete access units, the first one a keyframe.
	var aus int
	first := true
	deadline := time.After(10 * time.Second)
	for aus < 30 {
		select {
		case p := <-r.pkts:
			if first {
				if p.Payload[0]&0x1f != pipeline.NALSPS {
					t.Fatalf("first packet is NAL type %d, want SPS (keyframe on join)", p.Payload[0]&0x1f)
				}
				first = false
			}
			if p.Marker {
				aus++
			}
		case <-deadline:
			t.Fatalf("only %d access units", aus)
		}
	}
	if s.Viewers() != 1 {
		t.Fatalf("viewers %d", s.Viewers())
	}
	// The token opened one session: a replay is refused.
	if w := post(s.Handler(), tok, "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusUnauthorized {
		t.Fatalf("replayed token: %d, want 401", w.Code)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodDelete, loc, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("delete: %d", w.Code)
	}
	waitFor(t, r.closed, 10*time.Second, "viewer closed")
	s.audits.Wait()
	recs := n.Records()
	if len(recs) != 2 || recs[0].Kind != "view_start" || recs[1].Kind != "view" || recs[1].Actor != "alice" ||
		recs[0].Actor != "alice" || recs[1].View == nil || recs[0].View == nil {
		t.Fatalf("audit: %+v, want a view_start and a view record", recs)
	}
	if v := recs[1].View; v.Ended != "viewer hung up" || v.Purpose != "fall check" || v.Frames == 0 ||
		v.Role == "" || v.Remote == "" || v.Session != strings.TrimPrefix(loc, "/whep/") || v.Start.IsZero() || v.End.Before(v.Start) {
		t.Fatalf("audit view record: %+v", *v)
	}
	// The start record is the same session, before it sent anything.
	if v, e := recs[0].View, recs[1].View; v.Session != e.Session || !v.Start.Equal(e.Start) || v.Frames != 0 ||
		v.Ended != "" || !v.End.IsZero() || v.Purpose != e.Purpose || v.Role != e.Role || v.Remote != e.Remote {
		t.Fatalf("start record %+v does not pair with the end record %+v", *v, *e)
	}
	for _, r := range recs {
		if err := r.CheckSession(); err != nil {
			t.Errorf("%s record: %v", r.Kind, err)
		}
	}
}

// TestUnauditedSessionRefused: an auditor that cannot record the start of
// a session refuses the session (503 with the reason): no answer, so the
// viewer never connects and nothing is sent; no slot held. Once the
// auditor works again, viewers are admitted.
func TestUnauditedSessionRefused(t *testing.T) {
	k := newKeys(t)
	s, n := newServer(t, k, nil)
	feedFrames(t, s, 320, 240)
	n.failAudit(errors.New("disk full"))
	r := newReceiver(t, false)
	w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", r.offer(t))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "audit trail cannot record") ||
		!strings.Contains(w.Body.String(), "disk full") {
		t.Fatalf("offer with a failing auditor: %d %q, want 503 with the reason", w.Code, w.Body.String())
	}
	if strings.Contains(w.Body.String(), "v=0") || w.Header().Get("Location") != "" {
		t.Fatalf("a refused session got an answer: %q", w.Body.String())
	}
	s.mu.RLock()
	open := len(s.sessions)
	s.mu.RUnlock()
	if open != 0 || s.Viewers() != 0 {
		t.Fatalf("%d sessions, %d viewers after the refusal", open, s.Viewers())
	}
	n.failAudit(nil)
	openSession(t, s, k.mint(t, time.Now(), time.Minute), false)
}

// TestCutStopsRetransmission: NACKs are answered while viewing; after Cut
// the peer connection is closed and NACKs for the same packets get
// nothing.
func TestCutStopsRetransmission(t *testing.T) {
	k := newKeys(t)
	s, n := newServer(t, k, nil, generousNACKAge)
	gate := feedFrames(t, s, 640, 480)
	r, tap := newTapReceiver(t)
	w := post(s.Handler(), k.mint(t, time.Now(), 5*time.Minute), "application/sdp", r.offer(t))
	if w.Code != http.StatusCreated {
		t.Fatalf("offer: %d %s", w.Code, w.Body.String())
	}
	r.answer(t, w.Body.String())
	waitFor(t, r.connect, 10*time.Second, "connection")
	ssrc := waitFor(t, r.ssrc, 5*time.Second, "track")
	var seen []uint16
	for len(seen) < 50 {
		p := waitFor(t, r.pkts, 10*time.Second, "packets")
		seen = append(seen, p.SequenceNumber)
	}
	// NACK fresh packets: the NACK responder re-sends nothing older than
	// its age limit (generous here) or overwritten in its ring, and the
	// check after Cut must be about packets it would still re-send but for
	// the Cut. With the backlog drained, the next packets are read as they
	// arrive (loopback: as they are sent).
	drain(r.pkts)
	var old []uint16
	arrived := map[uint16]time.Time{}
	for len(old) < 10 {
		p := waitFor(t, r.pkts, 10*time.Second, "packets")
		arrived[p.SequenceNumber] = time.Now()
		old = append(old, p.SequenceNumber)
	}

	// Before Cut, a NACK is answered with the same sequence number.
	if err := r.nack(ssrc, old[:1]); err != nil {
		t.Fatal(err)
	}
	if !gotSeq(r.pkts, old[0], 5*time.Second) {
		t.Fatalf("NACK for %d before Cut was not answered: the test cannot show anything", old[0])
	}

	// NACKs for after Cut, built (not sent) while the viewer's SRTCP
	// context is up: the viewer's own stack refuses to write once it has
	// seen the close, so they go out through the tapped socket.
	held := tap.holdNACK(t, r, ssrc, old)

	start := time.Now()
	gate.Lock()
	s.pipe.Cut()
	gate.Unlock()
	t.Logf("Cut took %v", time.Since(start))
	if s.Viewers() != 0 {
		t.Fatalf("viewers after Cut: %d", s.Viewers())
	}
	n.setPrivate(true)
	waitFor(t, r.closed, 10*time.Second, "viewer to see the connection closed")
	for {
		select {
		case <-r.pkts: // drain what was in flight before Cut
			continue
		default:
		}
		break
	}
	if got := resendable(old, arrived, r.newestSeq(t), s.cfg.NACKMaxAge); got != len(old) {
		t.Fatalf("only %d of the %d NACKed packets are still re-sendable (age limit %v, ring %d): the check would show little",
			got, len(old), s.cfg.NACKMaxAge, nackBufferSize)
	}
	t.Logf("held NACKs sent %v after the oldest packet they name arrived", time.Since(arrived[old[0]]))
	tap.send(t, held)
	if gotAny(r.pkts, 500*time.Millisecond) {
		t.Fatal("a packet arrived after Cut")
	}
	s.audits.Wait()
	if recs := n.Ended(); len(recs) != 1 || !strings.Contains(recs[0].Reason, "privacy") {
		t.Fatalf("audit: %+v", recs)
	}
	// No new session while private.
	if w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("offer while private: %d", w.Code)
	}
}

func TestTokenExpiryEndsSession(t *testing.T) {
	k := newKeys(t)
	clock := clockwork.NewFakeClockAt(time.Now())
	s, n := newServer(t, k, clock)
	feedFrames(t, s, 320, 240)
	r, _ := openSession(t, s, k.mint(t, clock.Now(), 2*time.Minute), true)
	clock.Advance(2*time.Minute + time.Second)
	waitCond(t, 5*time.Second, "session to end at expiry", func() bool { return s.Viewers() == 0 })
	waitFor(t, r.closed, 15*time.Second, "viewer to see the connection end")
	// The slot is freed before the session's audit record is written.
	waitCond(t, 10*time.Second, "the audit record", func() bool { return len(n.Ended()) > 0 })
	if recs := n.Ended(); len(recs) != 1 || !strings.Contains(recs[0].Reason, "token expired") {
		t.Fatalf("audit: %+v", recs)
	}
}

// TestAudioRejected: chromium's audio+video offer gets m=audio 0.
func TestAudioRejected(t *testing.T) {
	k := newKeys(t)
	s, _ := newServer(t, k, nil)
	markLive(s)
	w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", readSDP(t, "chromium-audio-video.sdp"))
	if w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
	ans := w.Body.String()
	if !strings.Contains(ans, "m=audio 0 ") || strings.Count(ans, "m=audio") != 1 {
		t.Fatalf("audio not rejected:\n%s", ans)
	}
	if !strings.Contains(ans, "a=sendonly") || strings.Contains(strings.ToLower(ans), "opus") {
		t.Fatalf("answer:\n%s", ans)
	}
	if strings.Contains(ans, "typ srflx") || strings.Contains(ans, "typ relay") || strings.Contains(ans, ".local") {
		t.Fatalf("unexpected candidates:\n%s", ans)
	}
}

// FuzzOffer: no body, content type or token shape makes the handler panic;
// every answer is 201 or a 4xx/503 with a reason.
func FuzzOffer(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("testdata", "sdp"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join("testdata", "sdp", e.Name()))
		f.Add(string(b), "application/sdp", true)
	}
	f.Add("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "application/sdp", true)
	f.Add("v=0", "text/plain", false)
	k := newKeys(f)
	s, _ := newServer(f, k, nil, func(c *Config) { c.FailBurst = 1 << 30 })
	markLive(s)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body, ctype string, valid bool) {
		tok := "x"
		if valid {
			tok = k.mint(t, time.Now(), time.Minute)
		}
		w := post(h, tok, ctype, body)
		switch {
		case w.Code == http.StatusCreated:
			s.pipe.Cut()
			markLive(s)
		case w.Code >= 400 && w.Code < 500 || w.Code == http.StatusServiceUnavailable:
			if strings.TrimSpace(w.Body.String()) == "" {
				t.Fatalf("status %d without a reason", w.Code)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	})
}

// waitCond polls ok until it holds, failing the test after d.
var waitCond = waittest.Until

func gotSeq(ch <-chan *rtp.Packet, seq uint16, d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case p := <-ch:
			if p.SequenceNumber == seq {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// drain discards what is buffered in ch.
func drain[T any](ch <-chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func gotAny(ch <-chan *rtp.Packet, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}
