// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/liveview/token"
)

// session is one viewer's peer connection.
type session struct {
	id     string
	pc     *webrtc.PeerConnection
	claims *token.Claims
	remote string
	start  time.Time
	expiry clockwork.Timer
	// connectBy ends the session if its peer has not connected in time.
	connectBy clockwork.Timer

	connected atomic.Bool
	frames    atomic.Uint64
	closeOnce sync.Once
	endOnce   sync.Once
	done      chan struct{} // closed once the peer connection is closed
}

func (sess *session) close() {
	sess.closeOnce.Do(func() {
		if sess.expiry != nil {
			sess.expiry.Stop()
		}
		if sess.connectBy != nil {
			sess.connectBy.Stop()
		}
		_ = sess.pc.Close()
		close(sess.done)
	})
}

// statusError is a failure with the HTTP status it maps to.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &statusError{code: code, msg: fmt.Sprintf(format, args...)}
}

// admit reports why a new session cannot start now, or nil.
func (s *Server) admitLocked() error {
	if s.closed {
		return fail(http.StatusServiceUnavailable, "live view is shutting down")
	}
	ref := s.node.Load()
	if ref == nil {
		return fail(http.StatusServiceUnavailable, "node is starting")
	}
	st := ref.Status()
	switch {
	case st.Privacy:
		return fail(http.StatusServiceUnavailable, "privacy is on")
	case !st.Recording || !s.pipe.Live():
		return fail(http.StatusServiceUnavailable, "camera is not streaming (capture %s)", st.Capture)
	case len(s.sessions)+s.opening >= s.cfg.MaxViewers:
		return fail(http.StatusServiceUnavailable, "maximum of %d viewers reached", s.cfg.MaxViewers)
	case s.pipe.Err() != "":
		return fail(http.StatusServiceUnavailable, "%s", s.pipe.Err())
	}
	return nil
}

// checkOffer parses an SDP offer and checks that it asks to receive video.
// It never panics on any input.
func checkOffer(offer string) error {
	if strings.TrimSpace(offer) == "" {
		return fail(http.StatusBadRequest, "empty SDP offer")
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return fail(http.StatusBadRequest, "invalid SDP offer: %v", err)
	}
	// The node answers as the DTLS server (a=setup:passive). An offer
	// must leave it that role (actpass, as JSEP requires, or active): two
	// passive ends never start DTLS, and the slot would be held for
	// nothing.
	attrs := slices.Clone(d.Attributes)
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Port.Value != 0 {
			attrs = append(attrs, m.Attributes...)
		}
	}
	for _, a := range attrs {
		if a.Key == "setup" && strings.TrimSpace(a.Value) == "passive" {
			return fail(http.StatusBadRequest, "SDP offer has a=setup:passive: offer actpass (or active)")
		}
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		dir := "sendrecv"
		for _, a := range m.Attributes {
			switch a.Key {
			case "sendrecv", "recvonly", "sendonly", "inactive":
				dir = a.Key
			}
		}
		if dir == "sendrecv" || dir == "recvonly" {
			return nil
		}
	}
	return fail(http.StatusBadRequest, "SDP offer has no video section that can receive")
}

// open negotiates a session for a verified token: it answers offer and
// registers the session, consuming the token's jti. On any error nothing
// is left behind.
func (s *Server) open(ctx context.Context, offer string, c *token.Claims, remote string) (*session, string, error) {
	if err := checkOffer(offer); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	if err := s.admitLocked(); err != nil {
		s.mu.Unlock()
		return nil, "", err
	}
	s.opening++
	s.viewers.Add(1)
	epoch := s.epoch
	s.mu.Unlock()
	registered := false
	defer func() {
		if !registered {
			s.mu.Lock()
			s.opening--
			s.viewers.Add(-1)
			s.mu.Unlock()
		}
	}()

	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fail(http.StatusInternalServerError, "peer connection: %v", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = pc.Close()
		}
	}()
	sess := &session{id: newID(), pc: pc, claims: c, remote: remote, done: make(chan struct{})}
	// Watched from the start, so no state change is missed; end is a
	// no-op until the session is registered.
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			sess.connected.Store(true)
			s.pipe.RequestKeyframe()
		case webrtc.PeerConnectionStateFailed:
			// ICE consent lost for iceDisconnected+iceFailed: the viewer
			// vanished without DELETE. Free its slot.
			s.end(sess.id, "connection failed (viewer gone)")
		case webrtc.PeerConnectionStateClosed:
			s.end(sess.id, "connection closed")
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return nil, "", fail(http.StatusBadRequest, "SDP offer refused: %v", err)
	}
	track, err := s.trackFor(epoch)
	if err != nil {
		return nil, "", err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, "", fail(http.StatusBadRequest, "cannot send video to this offer: %v", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", fail(http.StatusBadRequest, "cannot answer the SDP offer: %v", err)
	}
	if err := checkAnswer(answer.SDP); err != nil {
		return nil, "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fail(http.StatusInternalServerError, "local description: %v", err)
	}
	gctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-gctx.Done():
		return nil, "", fail(http.StatusServiceUnavailable, "ICE gathering did not finish")
	}

	now := s.clock.Now()
	sess.start = now
	// The token is spent now, before the session is registered and
	// outside mu (Consume writes the used-token file: no fsync may delay
	// a Cut). If privacy comes on in between, the token is spent without
	// a session, as it would have been by the Cut a moment later: sessions
	// never resume, viewers need a new token.
	if err := s.verify.Consume(c, now); err != nil {
		return nil, "", consumeError(err)
	}
	// The session's start is recorded, durably, before it can send a
	// frame (no frame reaches a viewer before it has the answer): a
	// session the audit trail cannot record is refused. From here on,
	// a refusal ends the session with an end record that pairs with it.
	if err := s.start(sess); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	refused := s.admitAfterOpen()
	if s.epoch != epoch {
		refused = fail(http.StatusServiceUnavailable, "privacy is on")
	}
	if refused != nil {
		s.mu.Unlock()
		s.finish(sess, "refused: "+refused.Error())
		return nil, "", refused
	}
	// The timers are set before the session is visible (under mu), so a
	// Cut or end that closes it always finds them to stop.
	sess.expiry = s.clock.AfterFunc(c.ExpiresAt.Sub(now), func() { s.end(sess.id, "token expired") })
	sess.connectBy = s.clock.AfterFunc(s.cfg.ConnectTimeout, func() {
		if !sess.connected.Load() {
			s.end(sess.id, "viewer never connected")
		}
	})
	s.sessions[sess.id] = sess
	s.opening--
	registered, ok = true, true
	s.mu.Unlock()
	s.viewersChanged()

	if pc.ConnectionState() == webrtc.PeerConnectionStateFailed {
		s.end(sess.id, "connection failed (viewer gone)") // failed before it was registered
	}
	go s.readRTCP(sender)
	s.pipe.RequestKeyframe()
	s.log.Info("live view session opened", "session", sess.id, "viewer", c.Subject, "role", c.Role,
		"purpose", c.Purpose, "remote", remote)
	return sess, pc.LocalDescription().SDP, nil
}

// admitAfterOpen re-checks, under mu, what may have changed while the
// offer was negotiated.
func (s *Server) admitAfterOpen() error {
	if s.closed {
		return fail(http.StatusServiceUnavailable, "live view is shutting down")
	}
	if !s.pipe.Live() {
		return fail(http.StatusServiceUnavailable, "privacy is on")
	}
	return nil
}

// checkAnswer makes sure the answer sends video.
func checkAnswer(answer string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return fail(http.StatusInternalServerError, "answer: %v", err)
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == "sendonly" || a.Key == "sendrecv" {
				return nil
			}
		}
	}
	return fail(http.StatusBadRequest, "no common video codec: the viewer must accept H.264 (packetization-mode=1)")
}

// trackFor returns the shared track of epoch, creating it on first use.
func (s *Server) trackFor(epoch uint64) (*joinTrack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch {
		return nil, fail(http.StatusServiceUnavailable, "privacy is on")
	}
	if s.track == nil {
		t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "camnode")
		if err != nil {
			return nil, fail(http.StatusInternalServerError, "track: %v", err)
		}
		s.track = &joinTrack{TrackLocalStaticRTP: t, s: s}
	}
	return s.track, nil
}

// joinTrack is the shared track; it asks for a keyframe whenever a
// viewer's sender binds it. pion reports a peer connection connected
// before it starts its senders, so a keyframe asked for then can be
// written before the new viewer is bound and never reach it.
type joinTrack struct {
	*webrtc.TrackLocalStaticRTP
	s *Server
}

// Bind implements webrtc.TrackLocal.
func (t *joinTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	// Bind and the key wait are one step under the server's lock, which
	// WriteAU holds while it writes: otherwise a P frame written between
	// the binding and the key wait would be the new viewer's first
	// picture (seen under load in TestSessionMediaDeleteReplay). Lock
	// order s.mu -> the track's own lock, as in WriteAU.
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	p, err := t.TrackLocalStaticRTP.Bind(c)
	if err == nil {
		// Until the next IDR, nothing is sent: the viewer's first
		// picture is a keyframe, not a P frame encoded meanwhile.
		t.s.keyWait.Store(true)
		t.s.pipe.RequestKeyframe()
	}
	return p, err
}

// readRTCP drains the sender's RTCP (which also feeds the NACK responder
// and reports) and asks for a keyframe on PLI or FIR.
func (s *Server) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		if keyRequested(pkts) {
			s.pipe.RequestKeyframe()
		}
	}
}

// keyRequested reports whether a viewer's RTCP asks for a keyframe (PLI or
// FIR).
func keyRequested(pkts []rtcp.Packet) bool {
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			return true
		}
	}
	return false
}

// end closes session id (if it is still open) and audits why.
func (s *Server) end(id, why string) bool {
	s.mu.Lock()
	sess, ok := s.sessions[id]
	if ok {
		delete(s.sessions, id)
		s.viewers.Add(-1)
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	s.viewersChanged()
	sess.close()
	s.finish(sess, why)
	return true
}

// start writes the session's start record (agent.SessionStartAudit) and
// returns once it is recorded; an error (a 503 with the reason) if it
// cannot be.
func (s *Server) start(sess *session) error {
	ref := s.node.Load()
	if ref == nil {
		return fail(http.StatusServiceUnavailable, "node is starting")
	}
	c := sess.claims
	rec := agent.SessionStartAudit(agent.KindView, Source, c.Subject, agent.SessionRecord{Session: sess.id,
		Role: c.Role, Purpose: c.Purpose, Remote: sess.remote, Start: sess.start})
	if err := ref.Record(rec); err != nil {
		s.log.Error("live view session refused: its start cannot be audited", "session", sess.id, "viewer", c.Subject, "err", err)
		return fail(http.StatusServiceUnavailable, "%s", agent.UnauditedSession(err))
	}
	return nil
}

// finish writes the session's end record, once.
func (s *Server) finish(sess *session, why string) {
	sess.endOnce.Do(func() {
		end := s.clock.Now()
		c := sess.claims
		rec := agent.SessionAudit(agent.KindView, Source, c.Subject, why, agent.SessionRecord{Session: sess.id,
			Role: c.Role, Purpose: c.Purpose, Remote: sess.remote, Start: sess.start, End: end, Frames: sess.frames.Load()})
		s.log.Info("live view session ended", "session", sess.id, "viewer", c.Subject, "why", why,
			"frames", sess.frames.Load())
		ref := s.node.Load()
		if ref == nil {
			return
		}
		record := func() {
			if err := ref.Record(rec); err != nil {
				s.log.Error("audit of live view session failed", "session", sess.id, "err", err)
			}
		}
		s.audits.Go(record)
	})
}

// consumeError maps a failure to spend a token to an HTTP status: a replay
// that raced the first use is 401, a used-token store that cannot record
// the use is 503 (nothing the viewer did wrong).
func consumeError(err error) error {
	if errors.Is(err, token.ErrStore) {
		return fail(http.StatusServiceUnavailable, "%v", err)
	}
	return fail(http.StatusUnauthorized, "%v", err)
}

// errStatus maps an error from open to an HTTP status.
func errStatus(err error) (int, string) {
	var se *statusError
	if errors.As(err, &se) {
		return se.code, se.msg
	}
	return http.StatusInternalServerError, "internal error"
}
