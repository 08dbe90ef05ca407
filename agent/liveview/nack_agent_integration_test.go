// SPDX-License-Identifier: Apache-2.0

//go:build integration

package liveview

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/camnode/camnode/agent"
)

// whepPost posts an SDP offer to the node over HTTPS (self-signed
// certificate) and returns the status and body.
func whepPost(t testing.TB, baseURL, tok, offer string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // test certificate
	req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/whep", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgentPrivacyStopsRetransmission drives the privacy cut through the
// real agent (agent.New with gpiotest fakes, synthetic camera, this live
// view as its frame sink): a pion viewer with a valid token receives RTP;
// a NACK for a received packet is answered before privacy (so the test can
// see a retransmission at all); after SetPrivacy(on) returns, NACKs for the
// same and neighbouring sequence numbers get nothing back, no RTP arrives
// for a bounded window, the node's peer connection is already closed, the
// viewer's closes, and a new offer gets 503.
func TestAgentPrivacyStopsRetransmission(t *testing.T) {
	n := startNode(t, generousNACKAge)
	waitCond(t, 5*time.Second, "frames reaching the live view", func() bool { return n.lv.pipe.Live() })

	r, tap := newTapReceiver(t) // no receiver interceptors: only our NACKs are sent
	code, ans := whepPost(t, n.url, n.keys.mint(t, time.Now(), 5*time.Minute), r.offer(t))
	if code != http.StatusCreated {
		t.Fatalf("offer: %d %s", code, ans)
	}
	r.answer(t, ans)
	waitFor(t, r.connect, 10*time.Second, "connection")
	ssrc := waitFor(t, r.ssrc, 5*time.Second, "track")

	// The node-side peer connection, to check it is closed when
	// SetPrivacy returns.
	n.lv.mu.RLock()
	var nodePCs []*webrtc.PeerConnection
	for _, sess := range n.lv.sessions {
		nodePCs = append(nodePCs, sess.pc)
	}
	n.lv.mu.RUnlock()
	if len(nodePCs) != 1 {
		t.Fatalf("%d node sessions, want 1", len(nodePCs))
	}

	// Record what arrives: count per sequence number (a second arrival of
	// the same number is a retransmission).
	// Arrival times (as read: the backlog is drained first, so packets are
	// read as they arrive) bound the packets' age at the node, which
	// re-sends nothing older than its age limit (generous here).
	count := map[uint16]int{}
	arrived := map[uint16]time.Time{}
	var seen []uint16
	record := func(p *rtp.Packet) {
		if count[p.SequenceNumber] == 0 {
			seen = append(seen, p.SequenceNumber)
			arrived[p.SequenceNumber] = time.Now()
		}
		count[p.SequenceNumber]++
	}
	for len(seen) < 60 {
		record(waitFor(t, r.pkts, 10*time.Second, "packets"))
	}
	drain(r.pkts)
	for n := len(seen); len(seen) < n+2; {
		record(waitFor(t, r.pkts, 10*time.Second, "packets"))
	}
	old := append([]uint16(nil), seen[len(seen)-2:]...) // fresh: within the age limit
	retransmitted := func(seq uint16, what string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for count[seq] < 2 {
			select {
			case p := <-r.pkts:
				record(p)
			case <-deadline:
				t.Fatalf("%s for %d before privacy was not answered: the test could not detect a retransmission", what, seq)
			}
		}
	}

	// 1. Before privacy, a NACK for a packet already received is answered:
	// sent by pion directly, and held back by the tap and released later
	// (which is how NACKs are delivered after privacy below).
	if err := r.nack(ssrc, old[:1]); err != nil {
		t.Fatal(err)
	}
	retransmitted(old[0], "NACK")
	tap.send(t, tap.holdNACK(t, r, ssrc, old[1:2]))
	retransmitted(old[1], "held and released NACK")

	// NACKs for after privacy, made now while the viewer's SRTCP context
	// is up (never sent, so fresh to the node): the two packets answered
	// above and the 38 newest others (how many of them are still young
	// enough to be re-sent but for the cut is checked below).
	for drained := false; !drained; {
		select {
		case p := <-r.pkts:
			record(p)
		default:
			drained = true
		}
	}
	targets := append([]uint16(nil), old...)
	for i := len(seen) - 1; i >= 0 && len(targets) < 40; i-- {
		if !slices.Contains(targets, seen[i]) {
			targets = append(targets, seen[i])
		}
	}
	var held [][][]byte
	for range 5 {
		held = append(held, tap.holdNACK(t, r, ssrc, targets))
	}

	// 2. Privacy on through the agent. When SetPrivacy returns, the gate
	// has been closed and Cut has run.
	st, err := n.a.SetPrivacy(context.Background(), true, agent.SourceLocal, "nack test")
	if err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	if !st.Privacy || st.Recording {
		t.Fatalf("status after SetPrivacy: privacy %v recording %v", st.Privacy, st.Recording)
	}
	if s := nodePCs[0].ConnectionState(); s != webrtc.PeerConnectionStateClosed {
		t.Fatalf("node peer connection %v when SetPrivacy returned, want closed", s)
	}
	if v := n.lv.Viewers(); v != 0 {
		t.Fatalf("viewers after SetPrivacy: %d", v)
	}
	// Packets already read when SetPrivacy returned were sent before the
	// cut.
	for drained := false; !drained; {
		select {
		case p := <-r.pkts:
			record(p)
		default:
			drained = true
		}
	}
	highest := seen[len(seen)-1]

	// 3. Send the held NACKs from the viewer's socket to the node's UDP
	// port, one batch of 40 sequence numbers a tick, and have pion try
	// too; then, for a bounded window after the last batch (a negative
	// check by design), no packet may arrive. The window starts only once
	// every batch is out, so a busy machine that delays the ticks makes
	// the check take longer, never fail.
	const window = 500 * time.Millisecond
	var late []*rtp.Packet
	var pionNACKs, pionRefused int
	var end <-chan time.Time // armed when the last batch is sent
	tick := time.NewTicker(window / time.Duration(len(held)))
	defer tick.Stop()
	// Targets the node would still re-send but for the cut: with the
	// generous age limit, all of them unless the machine stalled for half
	// a minute.
	young := resendable(targets, arrived, r.newestSeq(t), n.lv.cfg.NACKMaxAge)
	if young < len(targets)/2 {
		t.Fatalf("only %d of %d NACKed packets are still re-sendable (age limit %v, ring %d): the check would show little",
			young, len(targets), n.lv.cfg.NACKMaxAge, nackBufferSize)
	}
	tap.send(t, held[0])
	sent := 1
	if sent == len(held) {
		end = time.After(window)
	}
	for waiting := true; waiting; {
		select {
		case p := <-r.pkts:
			late = append(late, p)
		case <-tick.C:
			if sent < len(held) {
				tap.send(t, held[sent])
				sent++
				if sent == len(held) {
					end = time.After(window)
				}
			}
			if err := r.nack(ssrc, targets); err != nil {
				pionRefused++ // the viewer's own stack has seen the close
			} else {
				pionNACKs++
			}
		case <-end:
			waiting = false
		}
	}
	var retx, fresh int
	for i, p := range late {
		kind := "new packet"
		if count[p.SequenceNumber] > 0 {
			kind = "retransmission"
			retx++
		} else {
			fresh++
		}
		if i < 5 {
			t.Errorf("%s after privacy: seq %d (highest before the cut %d)", kind, p.SequenceNumber, highest)
		}
	}
	if len(late) > 0 {
		t.Errorf("%d packets arrived within %v after SetPrivacy returned: %d retransmissions, %d new",
			len(late), time.Since(returned).Round(time.Millisecond), retx, fresh)
	}
	t.Logf("after privacy: %d held SRTCP NACK batches of %d sequence numbers (%d re-sendable but for the cut at the first) sent to the node, pion NACKs written %d / refused %d; %d packets in %v after the cut",
		sent, len(targets), young, pionNACKs, pionRefused, len(late), time.Since(returned).Round(time.Millisecond))

	// 4. The viewer sees its connection end.
	waitFor(t, r.closed, 10*time.Second, "viewer to see the connection closed")

	// 5. A new offer (fresh valid token) is refused while private.
	code, body := whepPost(t, n.url, n.keys.mint(t, time.Now(), time.Minute), newReceiver(t, false).offer(t))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "privacy") {
		t.Fatalf("offer while private: %d %q, want 503 privacy", code, body)
	}
	n.lv.audits.Wait()
	var cut int
	for _, rec := range n.aud.views() {
		if strings.Contains(rec.Reason, "privacy") {
			cut++
		}
	}
	if cut != 1 {
		t.Fatalf("view records with a privacy reason: %d, want 1: %+v", cut, n.aud.views())
	}
}
