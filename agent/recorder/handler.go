// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/recorder/interleave"
)

// handler is the Server seen by gortsplib (its callbacks).
type handler Server

// errRefused closes the connection after the refusal is sent (bad
// credentials: one try per connection, so each guess costs a TLS
// handshake).
var errRefused = errors.New("recorder: refused")

// refusal is a response with a status and a reason phrase that says why.
func refusal(code base.StatusCode, format string, args ...any) *base.Response {
	return &base.Response{StatusCode: code, StatusMessage: fmt.Sprintf(format, args...)}
}

func (h *handler) s() *Server { return (*Server)(h) }

// OnConnOpen implements gortsplib.ServerHandlerOnConnOpen.
func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	s := h.s()
	rc := ctx.Conn.NetConn().(*rconn) // the listener's, always
	c := &connState{remote: rc.RemoteAddr().String(), nonce: newID(), rc: rc, tls: rc.tls}
	s.mu.Lock()
	s.conns[ctx.Conn] = c
	s.mu.Unlock()
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	s := h.s()
	s.mu.Lock()
	c := s.conns[ctx.Conn]
	delete(s.conns, ctx.Conn)
	s.mu.Unlock()
	if c != nil {
		s.ln.forget(c.remote)
	}
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	why := "closed"
	if ctx.Error != nil {
		why = ctx.Error.Error()
	}
	h.s().end(ctx.Session, why)
}

// OnResponse implements gortsplib.ServerHandlerOnResponse, called on the
// connection's goroutine just before gortsplib writes a response. From a
// SETUP response it takes the interleaved RTP channel gortsplib assigned;
// on the PLAY response it arms the connection so that the session goes
// live (its frames may be written) once that response is written: no
// frame ever precedes it.
func (h *handler) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	s := h.s()
	var ch *int
	if v, ok := res.Header["Transport"]; ok && res.StatusCode == base.StatusOK {
		var th headers.Transport
		if th.Unmarshal(v) == nil && th.InterleavedIDs != nil {
			ch = &th.InterleavedIDs[0]
		}
	}
	s.mu.Lock()
	c := s.conns[sc]
	var sess *session
	if c != nil {
		if ch != nil {
			c.channel = *ch
		}
		sess, c.play = c.play, nil
	}
	s.mu.Unlock()
	if sess == nil || res.StatusCode != base.StatusOK {
		return
	}
	start := func() {
		sess.live.Store(true)
		s.pipe.RequestKeyframe() // it starts at an IDR
	}
	c.rc.afterWrite.Store(&start)
}

// OnPause implements gortsplib.ServerHandlerOnPause: no frame is queued
// for a paused session (PLAY again starts it at the next IDR).
func (h *handler) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	s := h.s()
	s.mu.Lock()
	if sess := s.sessions[ctx.Session]; sess != nil {
		sess.live.Store(false)
		sess.keyWait = true
	}
	s.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPacketsLost implements gortsplib.ServerHandlerOnPacketsLost (RTCP
// from a recorder; nothing to do but not to log it to stderr).
func (h *handler) OnPacketsLost(*gortsplib.ServerHandlerOnPacketsLostCtx) {}

// OnDecodeError implements gortsplib.ServerHandlerOnDecodeError.
func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.s().log.Debug("recorder: undecodable packet from a recorder", "err", ctx.Error)
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe. The SDP
// carries the stream's SPS and PPS, so DESCRIBE waits (bounded) for the
// first keyframe of the current epoch.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s := h.s()
	if res, err := s.check(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	s.mu.Lock()
	if s.stream != nil {
		st := s.stream
		s.mu.Unlock()
		return &base.Response{StatusCode: base.StatusOK}, st, nil
	}
	ready, cut := s.ready, s.cut
	s.waiting++
	s.wanted.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.wanted.Add(-1)
		s.mu.Unlock()
	}()
	s.pipe.RequestKeyframe()
	t := s.clock.NewTimer(paramsTimeout)
	defer t.Stop()
	select {
	case <-ready:
	case <-cut:
		return refusal(base.StatusServiceUnavailable, "privacy is on"), nil, nil
	case <-t.Chan():
		return refusal(base.StatusServiceUnavailable, "no picture from the camera yet"), nil, nil
	}
	s.mu.Lock()
	st := s.stream
	s.mu.Unlock()
	if st == nil {
		return refusal(base.StatusServiceUnavailable, "privacy is on"), nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup. Only TCP-interleaved
// transport exists (no UDP port is configured, gortsplib answers 461).
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s := h.s()
	if res, err := s.check(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	if ctx.Transport != gortsplib.TransportTCP {
		return refusal(base.StatusUnsupportedTransport, "TCP-interleaved only"), nil, nil
	}
	s.mu.Lock()
	st := s.stream
	s.mu.Unlock()
	if st == nil {
		return refusal(base.StatusServiceUnavailable, "no stream: DESCRIBE first (or privacy came on)"), nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay: the session is
// registered (counted, audited) from here on.
func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	s := h.s()
	if res, err := s.check(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, err
	}
	s.mu.Lock()
	c := s.conns[ctx.Conn]
	switch {
	case c == nil || s.closed:
		s.mu.Unlock()
		return refusal(base.StatusServiceUnavailable, "recorder stream is shutting down"), nil
	case s.stream == nil || ctx.Session.SetuppedStream() != s.stream:
		s.mu.Unlock()
		return refusal(base.StatusServiceUnavailable, "privacy is on"), nil
	case len(s.sessions) >= s.cfg.MaxSessions:
		s.mu.Unlock()
		return refusal(base.StatusServiceUnavailable, "maximum of %d recorder sessions reached", s.cfg.MaxSessions), nil
	}
	if sess, ok := s.sessions[ctx.Session]; ok { // PLAY again (after PAUSE)
		c.play = sess
		s.mu.Unlock()
		return &base.Response{StatusCode: base.StatusOK}, nil
	}
	s.mu.Unlock()
	// The session's start is recorded, durably, before it is registered
	// (gortsplib sends nothing to a session before PLAY is answered, and
	// WriteAU nothing before it is registered); one the audit trail
	// cannot record is refused.
	sess := &session{id: newID(), name: c.name, remote: c.remote, start: s.clock.Now(), rc: c.rc, keyWait: true,
		sent: make(chan struct{})}
	if res := s.begin(sess); res != nil {
		return res, nil
	}
	s.mu.Lock()
	var refused *base.Response
	switch {
	case s.closed:
		refused = refusal(base.StatusServiceUnavailable, "recorder stream is shutting down")
	case s.stream == nil || ctx.Session.SetuppedStream() != s.stream:
		refused = refusal(base.StatusServiceUnavailable, "privacy is on")
	case len(s.sessions) >= s.cfg.MaxSessions:
		refused = refusal(base.StatusServiceUnavailable, "maximum of %d recorder sessions reached", s.cfg.MaxSessions)
	}
	if refused != nil { // while the start was recorded
		s.mu.Unlock()
		s.finish(sess, "refused: "+refused.StatusMessage)
		return refused, nil
	}
	// The send queue is allocated here, once per session; the sender
	// waits on it until WriteAU queues the first IDR after the PLAY
	// response (OnResponse).
	sess.channel = c.channel
	sess.q = interleave.NewQueue(sessionQueueBytes, sessionQueueEntries)
	s.sessions[ctx.Session] = sess
	c.play = sess
	s.wanted.Add(1)
	s.mu.Unlock()
	go s.send(sess)
	s.changed()
	s.log.Info("recorder session opened", "recorder", c.name, "remote", c.remote)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// begin writes the session's start record (agent.SessionStartAudit) and
// returns once it is recorded; if it cannot be, the refusal (503 with the
// reason).
func (s *Server) begin(sess *session) *base.Response {
	ref := s.node.Load()
	if ref == nil {
		return refusal(base.StatusServiceUnavailable, "node is starting")
	}
	rec := agent.SessionStartAudit(agent.KindRecording, Source, sess.name, agent.SessionRecord{
		Session: sess.id, Role: "recorder", Purpose: "recording", Remote: sess.remote, Start: sess.start})
	if err := ref.Record(rec); err != nil {
		s.log.Error("recorder session refused: its start cannot be audited", "recorder", sess.name, "remote", sess.remote, "err", err)
		return refusal(base.StatusServiceUnavailable, "%s", agent.UnauditedSession(err))
	}
	return nil
}

// check authenticates the connection and admits the request: nil when
// it may go on, else the refusal (and errRefused to close the
// connection).
func (s *Server) check(sc *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, error) {
	if res, err := s.authenticate(sc, req); res != nil {
		return res, err
	}
	if path != Path {
		return refusal(base.StatusNotFound, "no stream at %q: the stream is %s", path, Path), nil
	}
	return s.admit(), nil
}

// admit reports why no stream can be served now, or nil.
func (s *Server) admit() *base.Response {
	ref := s.node.Load()
	if ref == nil {
		return refusal(base.StatusServiceUnavailable, "node is starting")
	}
	st := ref.Status()
	switch {
	case st.Privacy:
		return refusal(base.StatusServiceUnavailable, "privacy is on")
	case !st.Recording || !s.pipe.Live():
		return refusal(base.StatusServiceUnavailable, "camera is not streaming (capture %s)", st.Capture)
	case s.pipe.Err() != "":
		return refusal(base.StatusServiceUnavailable, "%s", s.pipe.Err())
	}
	return nil
}

// authenticate finds the named recorder on the other end of sc: a
// verified client certificate whose name is pinned, or RTSP Digest (or
// Basic, over TLS only) against the stored HA1. A connection is
// authenticated once. Failed credentials drain the remote address's
// bucket; an address whose bucket is empty gets 403 instead of a new
// challenge, but valid credentials are always accepted, so one
// misconfigured recorder behind the hub's address does not lock out the
// others.
func (s *Server) authenticate(sc *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	s.mu.Lock()
	c := s.conns[sc]
	authed := c != nil && c.name != ""
	s.mu.Unlock()
	if c == nil {
		return refusal(base.StatusServiceUnavailable, "recorder stream is shutting down"), errRefused
	}
	if authed {
		return nil, nil
	}
	host := remoteHost(c.remote)
	name, why := s.credentials(c, req)
	if name != "" {
		s.mu.Lock()
		c.name = name
		s.mu.Unlock()
		s.log.Debug("recorder authenticated", "recorder", name, "remote", c.remote)
		return nil, nil
	}
	if why == "" { // nothing offered: the usual first step, not a failure
		return s.challenge(c, "credentials required"), nil
	}
	throttled := !s.lim.Allow(host)
	s.lim.Fail(host)
	s.log.Warn("recorder: refused", "remote", c.remote, "why", why, "throttled", throttled)
	if throttled {
		res := refusal(base.StatusForbidden, "too many failed attempts from this address; try later")
		res.Header = base.Header{"Retry-After": base.HeaderValue{strconv.Itoa(int(1/s.cfg.FailRate) + 1)}}
		return res, errRefused
	}
	if strings.HasPrefix(why, "forbidden: ") {
		return refusal(base.StatusForbidden, "%s", strings.TrimPrefix(why, "forbidden: ")), errRefused
	}
	return s.challenge(c, why), errRefused
}

// challenge is a 401 with a Digest challenge (MD5, the algorithm every
// recorder speaks; Basic is never offered).
func (s *Server) challenge(c *connState, why string) *base.Response {
	res := refusal(base.StatusUnauthorized, "%s", why)
	res.Header = base.Header{"WWW-Authenticate": base.HeaderValue{
		fmt.Sprintf(`Digest realm="%s", nonce="%s"`, Realm, c.nonce)}}
	return res
}

// credentials returns the recorder the request proves to be, or why not
// ("" if it offered nothing; "forbidden: ..." for a refusal no other
// credential can fix).
func (s *Server) credentials(c *connState, req *base.Request) (name, why string) {
	if c.tls != nil {
		cs := c.tls.ConnectionState()
		if len(cs.VerifiedChains) > 0 && len(cs.PeerCertificates) > 0 {
			cn := cs.PeerCertificates[0].Subject.CommonName
			if n, ok := s.byCert[cn]; ok {
				return n, ""
			}
			return "", fmt.Sprintf("forbidden: client certificate %q is not a configured recorder", cn)
		}
	}
	v, ok := req.Header["Authorization"]
	if !ok {
		return "", ""
	}
	var a headers.Authorization
	if err := a.Unmarshal(v); err != nil {
		return "", "malformed Authorization header"
	}
	ha1, known := s.byDigest[a.Username]
	switch a.Method {
	case headers.AuthMethodBasic:
		if c.tls == nil {
			return "", "forbidden: Basic authentication is refused over plain RTSP; use Digest"
		}
		if known && equalHex(md5hex(a.Username+":"+Realm+":"+a.BasicPass), ha1) {
			return a.Username, ""
		}
		return "", "wrong user name or password"
	case headers.AuthMethodDigest:
		if a.Algorithm != nil && *a.Algorithm != headers.AuthAlgorithmMD5 {
			return "", "Digest algorithm not supported: use MD5"
		}
		if a.Realm != Realm || a.Nonce != c.nonce {
			return "", "stale or foreign Digest nonce"
		}
		if !uriMatches(a.URI, req.URL) {
			return "", "Digest uri does not match the request"
		}
		if !known {
			// The same work as a known name, so timing tells nothing.
			ha1 = md5hex(a.Username + ":" + Realm + ":")
		}
		want := md5hex(ha1 + ":" + c.nonce + ":" + md5hex(string(req.Method)+":"+a.URI))
		if known && equalHex(want, a.Response) {
			return a.Username, ""
		}
		return "", "wrong user name or password"
	}
	return "", "unsupported authentication method"
}

// uriMatches accepts, as the Digest uri, the request URL itself or, for
// a track URL (".../stream/trackID=0"), the stream URL some clients send
// in SETUP, each with or without a trailing slash.
func uriMatches(uri string, u *base.URL) bool {
	if u == nil || uri == "" {
		return false
	}
	full := strings.TrimSuffix(u.String(), "/")
	uri = strings.TrimSuffix(uri, "/")
	if uri == full {
		return true
	}
	if i := strings.LastIndex(full, "/trackID="); i > 0 {
		return uri == full[:i]
	}
	return false
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func equalHex(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a)), []byte(strings.ToLower(b))) == 1
}

// remoteHost is the rate-limit key: the client's IP address.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
