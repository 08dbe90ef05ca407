// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/liveview/token"
)

// TestAnswers: each offer of the case table is answered with what the
// table wants (a=setup:passive above all).
func TestAnswers(t *testing.T) {
	k := newKeys(t)
	s, _ := newServer(t, k, nil)
	markLive(s)
	for _, c := range answerCases() {
		t.Run(c.name, func(t *testing.T) {
			w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", c.offer(t))
			if w.Code != http.StatusCreated {
				t.Fatalf("%d %s", w.Code, w.Body.String())
			}
			ans := w.Body.String()
			for _, want := range c.want {
				if !strings.Contains(ans, want) {
					t.Errorf("answer lacks %q", want)
				}
			}
			for _, not := range c.not {
				if strings.Contains(ans, not) {
					t.Errorf("answer has %q", not)
				}
			}
			if t.Failed() {
				t.Logf("answer:\n%s", ans)
			}
		})
	}
}

// endedRecords returns the audit reasons of the ended sessions.
func endedRecords(n *fakeNode) []string {
	var out []string
	for _, r := range n.Ended() {
		out = append(out, r.View.Ended)
	}
	return out
}

// TestVanishedViewersFreeSlots: viewers that vanish without DELETE lose
// their slots once ICE consent fails (seconds, not pion's default 30 s),
// so four of them do not lock out a new viewer.
func TestVanishedViewersFreeSlots(t *testing.T) {
	k := newKeys(t)
	s, n := newServer(t, k, nil, func(c *Config) { c.MaxViewers = 4 })
	feedFrames(t, s, 320, 240)
	var taps []*tapConn
	for range 4 {
		r, tap := newTapReceiver(t)
		w := post(s.Handler(), k.mint(t, time.Now(), 5*time.Minute), "application/sdp", r.offer(t))
		if w.Code != http.StatusCreated {
			t.Fatalf("offer: %d %s", w.Code, w.Body.String())
		}
		r.answer(t, w.Body.String())
		waitFor(t, r.connect, 10*time.Second, "connection")
		taps = append(taps, tap)
	}
	if w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("fifth viewer: %d, want 503 (full)", w.Code)
	}
	for _, tap := range taps {
		tap.vanish()
	}
	// The deadline only keeps a broken build from hanging: with pion's
	// default ICE timeouts (5 s + 25 s) the slots are held for 30 s.
	waitCond(t, 20*time.Second, "vanished viewers' slots to be freed", func() bool { return s.Viewers() == 0 })
	openSession(t, s, k.mint(t, time.Now(), time.Minute), false)
	s.audits.Wait()
	ended := endedRecords(n)
	if len(ended) != 4 {
		t.Fatalf("audit: %q, want 4 ended sessions", ended)
	}
	for _, why := range ended {
		if !strings.Contains(why, "viewer gone") {
			t.Errorf("ended %q, want the viewer gone", why)
		}
	}
}

// TestNeverConnectedFreesSlot: an answered offer whose viewer never
// connects holds its slot only until the connect timeout.
func TestNeverConnectedFreesSlot(t *testing.T) {
	k := newKeys(t)
	clock := clockwork.NewFakeClockAt(time.Now())
	s, n := newServer(t, k, clock, func(c *Config) { c.MaxViewers = 1 })
	markLive(s)
	// The viewer makes an offer and never applies the answer.
	w := post(s.Handler(), k.mint(t, clock.Now(), 5*time.Minute), "application/sdp", newReceiver(t, false).offer(t))
	if w.Code != http.StatusCreated {
		t.Fatalf("offer: %d %s", w.Code, w.Body.String())
	}
	if w := post(s.Handler(), k.mint(t, clock.Now(), time.Minute), "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("second viewer: %d, want 503 (full)", w.Code)
	}
	clock.Advance(DefaultConnectTimeout)
	waitCond(t, 10*time.Second, "the slot to be freed", func() bool { return s.Viewers() == 0 })
	// The slot is freed before the session's audit record is written.
	waitCond(t, 10*time.Second, "the audit record", func() bool { return len(endedRecords(n)) > 0 })
	if ended := endedRecords(n); len(ended) != 1 || ended[0] != "viewer never connected" {
		t.Fatalf("audit: %q", ended)
	}
	if w := post(s.Handler(), k.mint(t, clock.Now(), time.Minute), "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusCreated {
		t.Fatalf("viewer after the timeout: %d %s", w.Code, w.Body.String())
	}
}

// TestUsedTokenRefusedAfterRestart: a token that opened a session is
// refused, as used, by a new live view on the same state directory.
func TestUsedTokenRefusedAfterRestart(t *testing.T) {
	k := newKeys(t)
	path := filepath.Join(t.TempDir(), "liveview-used-tokens.json")
	withStore := func(c *Config) { c.UsedTokensPath = path }
	s1, _ := newServer(t, k, nil, withStore)
	markLive(s1)
	tok := k.mint(t, time.Now(), 5*time.Minute)
	if w := post(s1.Handler(), tok, "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusCreated {
		t.Fatalf("first use: %d %s", w.Code, w.Body.String())
	}
	if err := s1.Close(); err != nil { // the agent restarts
		t.Fatal(err)
	}

	s2, _ := newServer(t, k, nil, withStore)
	markLive(s2)
	if _, err := s2.verify.Verify(tok); !errors.Is(err, token.ErrUsed) {
		t.Fatalf("Verify after restart: %v, want ErrUsed", err)
	}
	w := post(s2.Handler(), tok, "application/sdp", newReceiver(t, false).offer(t))
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "used") {
		t.Fatalf("replay after restart: %d %q, want 401 used", w.Code, w.Body.String())
	}
	// Other tokens are fine.
	if w := post(s2.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusCreated {
		t.Fatalf("fresh token after restart: %d %s", w.Code, w.Body.String())
	}
}

// TestUsedTokenStoreUnreadable: while the used-token file cannot be read
// (corrupt, not a regular file, too large), every token is refused with
// 503 and the cause; once it is repaired, tokens work again.
func TestUsedTokenStoreUnreadable(t *testing.T) {
	k := newKeys(t)
	for name, bad := range map[string]func(path string) error{
		"garbage":      func(p string) error { return os.WriteFile(p, []byte("{not json"), 0o600) },
		"no version":   func(p string) error { return os.WriteFile(p, []byte(`{"used":{}}`), 0o600) },
		"case variant": func(p string) error { return os.WriteFile(p, []byte(`{"version":1,"used":{},"Used":{}}`), 0o600) },
		"bad key":      func(p string) error { return os.WriteFile(p, []byte(`{"version":1,"used":{"x":1}}`), 0o600) },
		"directory":    func(p string) error { return os.Mkdir(p, 0o700) },
		"too large": func(p string) error {
			return os.WriteFile(p, []byte(`{"version":1,"used":{}}`+strings.Repeat(" ", 70<<10)), 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "used.json")
			if err := bad(path); err != nil {
				t.Fatal(err)
			}
			s, n := newServer(t, k, nil, func(c *Config) { c.UsedTokensPath = path })
			markLive(s)
			w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", newReceiver(t, false).offer(t))
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "cannot be checked") {
				t.Fatalf("token with an unreadable store: %d %q, want 503", w.Code, w.Body.String())
			}
			if s.Viewers() != 0 || len(n.Records()) != 0 {
				t.Fatal("a session was opened")
			}
			if err := os.RemoveAll(path); err != nil { // the operator repairs it
				t.Fatal(err)
			}
			if w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", newReceiver(t, false).offer(t)); w.Code != http.StatusCreated {
				t.Fatalf("after repair: %d %s", w.Code, w.Body.String())
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the use was not recorded: %v", err)
			}
		})
	}
}

var _ = agent.Status{}
