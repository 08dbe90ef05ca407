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
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/rtph264"
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
			// The keyframe is asked for before the session counts as
			// connected: from then on, its key gate asks for one for
			// every frame it waits (TestPLIKeyframe relies on the order).
			s.pipe.RequestKeyframe()
			sess.connected.Store(true)
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
	sender, err := pc.AddTrack(&viewerTrack{joinTrack: track, sess: sess})
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

// joinTrack is the shared track every viewer's sender is bound to. Each
// binding's write stream is wrapped in a keyGate, so that a joining
// viewer's first picture is a keyframe.
type joinTrack struct {
	*webrtc.TrackLocalStaticRTP
	s *Server
	// The access unit being written (pipeline goroutine only, in WriteAU;
	// the gates read them in the same call).
	auKey   bool // it holds an IDR, preceded by SPS and PPS
	auStart bool // the next packet written is its first
}

// WriteRTP implements rtph264.Writer: one packet of the access unit
// being written, to every binding.
func (t *joinTrack) WriteRTP(p *rtp.Packet) error {
	err := t.TrackLocalStaticRTP.WriteRTP(p)
	t.auStart = false
	return err
}

// writeAU packetizes one access unit onto the track.
func (t *joinTrack) writeAU(pk *rtph264.Packetizer, au *pipeline.AU, ts uint32) error {
	t.auKey, t.auStart = au.Key, true
	_, err := pk.Packetize(au.Data, ts, t)
	return err
}

// errBareTrack: the shared track is bound through a viewerTrack only.
var errBareTrack = errors.New("liveview: the shared track is bound through a session's viewerTrack")

// Bind implements webrtc.TrackLocal: it refuses, so that no binding can
// bypass the key gate.
func (t *joinTrack) Bind(webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return webrtc.RTPCodecParameters{}, errBareTrack
}

func (t *joinTrack) bind(c webrtc.TrackLocalContext, sess *session) (webrtc.RTPCodecParameters, error) {
	// The gate starts closed as the binding is added (under the track's
	// lock, which WriteRTP holds while it writes): nothing reaches the
	// new binding before a keyframe.
	return t.TrackLocalStaticRTP.Bind(gatedContext{TrackLocalContext: c,
		g: &keyGate{next: c.WriteStream(), t: t, sess: sess}})
}

// viewerTrack is the shared track as one session's sender sees it (what
// pc.AddTrack gets): its binding's gate knows the session.
type viewerTrack struct {
	*joinTrack
	sess *session
}

// Bind implements webrtc.TrackLocal.
func (v *viewerTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return v.bind(c, v.sess)
}

// gatedContext is a binding's context with its write stream gated.
type gatedContext struct {
	webrtc.TrackLocalContext
	g *keyGate
}

// WriteStream implements webrtc.TrackLocalContext.
func (c gatedContext) WriteStream() webrtc.TrackLocalWriter { return c.g }

// keyGate is one binding's write stream: it lets nothing through before
// the binding has sent the first packet of a keyframe, then everything.
//
// pion binds the track when the answer is made (RTPSender.Send, in
// SetLocalDescription), long before DTLS is done; until the sender's SRTP
// session is ready, whatever is written to the binding goes nowhere and
// the write returns 0 bytes and no error (srtpWriterFuture; likewise
// between Bind and the sender's interceptor chain being set). So the
// keyframe asked for at the binding, or on connecting, can be lost to a
// viewer that then gets a P frame - or the tail of the IDR, if SRTP got
// ready in its middle - as its first picture. Whether the first packet of
// an IDR (its SPS) was sent is known only from that write: the gate opens
// when it returned bytes.
//
// Its state is used by the pipeline goroutine only (WriteAU); it is set
// up before the binding is added, under the track's lock.
type keyGate struct {
	next webrtc.TrackLocalWriter
	t    *joinTrack
	sess *session
	open bool // the binding has sent a keyframe's first packet
	pass bool // the access unit being written goes to this binding
}

// connected reports whether the binding's viewer is connected: keyframes
// are asked for while it waits only then (one asked for before it can be
// sent would be lost too, to every viewer's cost).
func (g *keyGate) connected() bool { return g.sess.connected.Load() }

// WriteRTP implements webrtc.TrackLocalWriter.
func (g *keyGate) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if g.t.auStart {
		g.pass = g.open || g.t.auKey
		if g.open {
			g.sess.frames.Add(1)
		}
		if !g.pass && g.connected() {
			g.t.s.pipe.RequestKeyframe() // (again: the one asked for may have been lost)
		}
	}
	if !g.pass {
		return 0, nil
	}
	n, err := g.next.WriteRTP(h, payload)
	if !g.open { // the first packet of a keyframe
		if n > 0 {
			g.open = true
			g.sess.frames.Add(1)
		} else {
			g.pass = false // not sent: none of this access unit goes
			if g.connected() {
				g.t.s.pipe.RequestKeyframe()
			}
		}
	}
	return n, err
}

// Write implements webrtc.TrackLocalWriter; the track writes through
// WriteRTP only.
func (g *keyGate) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return g.WriteRTP(&p.Header, p.Payload)
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
