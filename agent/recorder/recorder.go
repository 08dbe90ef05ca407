// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/jonboulle/clockwork"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/ratelimit"
	"github.com/camnode/camnode/agent/recorder/interleave"
	"github.com/camnode/camnode/agent/rtph264"
)

// Source is the audit source of recorder-stream records.
const Source agent.Source = "recorder"

// Path is the one stream path: rtsps://<node>:<port>/stream.
const Path = "/stream"

// Realm is the RTSP Digest realm; a recorder's HA1 is the hex MD5 of
// "<name>:camnode:<password>".
const Realm = "camnode"

// Defaults and limits.
const (
	DefaultMaxSessions = 4
	// MTU is the largest RTP payload sent (the RTP packet stays below
	// gortsplib's 1472-byte MaxPacketSize).
	MTU = 1400
	// paramsTimeout bounds how long a DESCRIBE waits for the stream's
	// first keyframe (its SPS and PPS go into the SDP).
	paramsTimeout = 5 * time.Second
	// DefaultWriteTimeout bounds one blocked write to a recorder.
	DefaultWriteTimeout = 10 * time.Second
	// Each playing session's send queue (interleave.Queue), allocated
	// when it starts: about 2.7 s of the default 1.5 Mbit/s (gortsplib's
	// queue held 256 packets, about 2 s). A recorder that falls further
	// behind loses access units up to the next IDR.
	sessionQueueBytes   = 512 << 10
	sessionQueueEntries = 256
)

// Access is one named recorder: exactly one of CertName (the subject CN
// of a client certificate the site CA signed) or DigestHA1 (hex MD5 of
// "name:camnode:password").
type Access struct {
	Name      string
	CertName  string
	DigestHA1 string
}

// Pipeline is what the recorder needs from the frame pipeline
// (*pipeline.Pipeline).
type Pipeline interface {
	Add(pipeline.Output)
	Remove(pipeline.Output)
	Live() bool
	Err() string
	RequestKeyframe()
}

// Node is what the recorder needs from the agent.
type Node interface {
	Status() agent.Status
	Record(agent.AuditRecord) error
}

// Config configures the recorder stream.
type Config struct {
	// Listener is where RTSP connections are accepted (one TCP port).
	// The server owns it from New on.
	Listener net.Listener
	// TLS is the server's TLS configuration (certificate; ClientCAs and
	// ClientAuth tls.VerifyClientCertIfGiven for certificate recorders).
	// Nil serves plain RTSP, which New allows only on a loopback
	// listener (and logs at Warn).
	TLS       *tls.Config
	Recorders []Access
	Pipeline  Pipeline
	// MaxSessions bounds the sessions playing at once; default
	// DefaultMaxSessions.
	MaxSessions int
	// FailRate and FailBurst limit failed credentials per remote address
	// (ratelimit.Limiter); defaults 0.2/s and 5.
	FailRate  float64
	FailBurst int
	// WriteTimeout bounds one blocked write to a recorder (default
	// DefaultWriteTimeout): a recorder that stops reading for longer is
	// dropped.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	Clock        clockwork.Clock
}

// Server is the recorder stream: a pipeline.Output that packetizes the
// pipeline's access units once into RTSP interleaved frames and queues
// them for every playing session, and the RTSP(S) server recorders pull
// from (gortsplib runs the RTSP exchange; each session's sender writes the
// RTP). See doc.go.
type Server struct {
	cfg   Config
	log   *slog.Logger
	clock clockwork.Clock
	lim   *ratelimit.Limiter
	ln    *listener
	srv   *gortsplib.Server
	pipe  Pipeline
	node  atomic.Pointer[nodeRef]

	byCert   map[string]string // certificate name -> recorder name
	byDigest map[string]string // recorder name -> HA1

	// mu guards everything below. WriteAU holds it while it hands an
	// access unit to the stream; Cut takes it to drop the stream and the
	// sessions, so nothing is handed on after Cut took it.
	mu       sync.Mutex
	epoch    uint64
	closed   bool
	stream   *gortsplib.ServerStream // this epoch's stream, nil until its first keyframe
	media    *description.Media
	ready    chan struct{} // closed when stream is set
	cut      chan struct{} // closed by Cut (replaced each time)
	conns    map[*gortsplib.ServerConn]*connState
	sessions map[*gortsplib.ServerSession]*session
	waiting  int // DESCRIBEs waiting for the first keyframe

	wanted atomic.Int32
	audits agent.AuditQueue // session records being written

	// pipeline goroutine state (WriteAU)
	pk      *rtph264.Packetizer
	framer  interleave.Framer // one framing of each access unit for all sessions
	t0      time.Time
	frameOK atomic.Uint64 // access units queued for at least one session
}

type nodeRef struct{ Node }

// connState is what the server knows about one RTSP connection. Fields
// but rc and remote are guarded by Server.mu.
type connState struct {
	remote  string
	nonce   string // Digest nonce of this connection
	name    string // authenticated recorder, or ""
	rc      *rconn
	tls     *tls.Conn // rc.tls
	channel int       // interleaved RTP channel from SETUP's response
	play    *session  // PLAY answered 200 by OnPlay, its response not yet sent
}

// session is one recorder's playing RTSP session. Its RTP goes out of q:
// WriteAU puts each access unit's frames (from an IDR on: keyWait), the
// session's sender goroutine writes them to rc, one Write each.
type session struct {
	id      string // the audit records' session id
	name    string
	remote  string
	start   time.Time
	rc      *rconn
	channel int
	q       *interleave.Queue
	live    atomic.Bool            // the PLAY response is sent: frames may follow
	keyWait bool                   // guarded by Server.mu: queue nothing before an IDR
	sent    chan struct{}          // closed when the sender returned
	why     atomic.Pointer[string] // why the sender ended it, if it did
	frames  atomic.Uint64          // access units written
	dropped atomic.Uint64          // access units that did not fit the queue (a slow recorder)
	bytes   uint64                 // set when it ends
	once    sync.Once
}

// New starts the recorder stream on cfg.Listener and attaches it to the
// pipeline. Call SetNode before sessions can start, and Close when done.
func New(cfg Config) (*Server, error) {
	if cfg.Listener == nil || cfg.Pipeline == nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, errors.New("recorder: Listener and Pipeline are required")
	}
	s, err := newServer(cfg)
	if err != nil {
		_ = cfg.Listener.Close() // the server owns it from New on, also on failure
		return nil, err
	}
	s.pipe.Add(s)
	return s, nil
}

// newServer checks cfg and starts the RTSP server.
func newServer(cfg Config) (*Server, error) {
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.FailRate == 0 {
		cfg.FailRate = 0.2
	}
	if cfg.FailBurst == 0 {
		cfg.FailBurst = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if len(cfg.Recorders) == 0 {
		return nil, errors.New("recorder: no named recorder")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, pipe: cfg.Pipeline,
		lim:    ratelimit.New(cfg.FailRate, cfg.FailBurst, cfg.Clock.Now),
		byCert: map[string]string{}, byDigest: map[string]string{},
		ready: make(chan struct{}), cut: make(chan struct{}),
		conns: map[*gortsplib.ServerConn]*connState{}, sessions: map[*gortsplib.ServerSession]*session{},
	}
	for _, a := range cfg.Recorders {
		switch {
		case a.Name == "":
			return nil, errors.New("recorder: a recorder has no name")
		case (a.CertName == "") == (a.DigestHA1 == ""):
			return nil, fmt.Errorf("recorder %q: exactly one of a certificate name or a Digest HA1", a.Name)
		case a.CertName != "":
			if cfg.TLS == nil {
				return nil, fmt.Errorf("recorder %q: a client certificate needs TLS", a.Name)
			}
			s.byCert[a.CertName] = a.Name
		default:
			b, err := hex.DecodeString(a.DigestHA1)
			if err != nil || len(b) != 16 {
				return nil, fmt.Errorf("recorder %q: the Digest HA1 must be 32 hex digits", a.Name)
			}
			s.byDigest[a.Name] = hex.EncodeToString(b)
		}
	}
	if cfg.TLS == nil {
		if !isLoopback(cfg.Listener.Addr()) {
			return nil, fmt.Errorf("recorder: plain RTSP only on loopback, not %s", cfg.Listener.Addr())
		}
		s.log.Warn("recorder stream is PLAIN RTSP (insecure_plain): loopback only, never for a real deployment",
			"listen", cfg.Listener.Addr().String())
	}
	var seq [2]byte
	_, _ = rand.Read(seq[:])
	s.pk = rtph264.New(MTU, uint16(seq[0])<<8|uint16(seq[1]))
	s.pk.SetPayloadType(payloadType)
	s.ln = &listener{Listener: cfg.Listener, tls: cfg.TLS, conns: map[string]*rconn{}}
	s.srv = &gortsplib.Server{
		Handler:     (*handler)(s),
		RTSPAddress: cfg.Listener.Addr().String(),
		// TLS is ours (the listener wraps each connection), not
		// gortsplib's: with its TLSConfig set, gortsplib also offers
		// SRTP (RTP/SAVP with MIKEY) and encrypts every packet for it
		// into a second fresh buffer, whether a reader uses it or not.
		// The recorders take RTP/AVP over TLS.
		WriteTimeout: cfg.WriteTimeout,
		// gortsplib writes only RTSP responses: RTP goes out of each
		// session's queue (WriteAU, send), and no RTCP sender report
		// (its packets would have to be serialised with ours; recorders
		// take the timing from RTP).
		DisableRTCPSenderReports: true,
		// TCP-interleaved only: no UDP or multicast address is set, so
		// gortsplib refuses every other transport (461).
		Listen: func(string, string) (net.Listener, error) { return s.ln, nil },
	}
	if err := s.srv.Start(); err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	return s, nil
}

const payloadType = 96

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// SetNode connects the recorder to the agent (status for admission,
// Record for audit). Sessions are refused until it is set.
func (s *Server) SetNode(n Node) { s.node.Store(&nodeRef{n}) }

// TLS is the server's TLS configuration (nil: plain RTSP on loopback).
func (s *Server) TLS() *tls.Config { return s.cfg.TLS }

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Sessions returns the number of sessions playing.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// RecorderSessions is Sessions, for the node's status: the pipeline sums
// its outputs' (agent.RecorderCounter).
func (s *Server) RecorderSessions() int { return s.Sessions() }

// Wanted implements pipeline.Output: the stream is wanted while a
// recorder plays or waits for the first keyframe.
func (s *Server) Wanted() bool { return s.wanted.Load() > 0 }

// WriteAU implements pipeline.Output. The first keyframe of an epoch
// creates the epoch's stream (its SPS and PPS go into the SDP; gortsplib
// serves DESCRIBE, SETUP and PLAY from it); every access unit is
// packetized once into interleaved frames and copied into the queue of
// each playing session. A session whose queue is full (a slow recorder)
// loses the access unit and everything up to the next IDR, counted. It
// allocates nothing (TestWriteAUAllocs).
func (s *Server) WriteAU(au *pipeline.AU) {
	if len(au.Data) == 0 {
		return
	}
	if s.t0.IsZero() {
		s.t0 = au.Time
	}
	ts := uint32(au.Time.Sub(s.t0).Microseconds() * 9 / 100) // 90 kHz
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.stream == nil {
		if !au.Key {
			if s.waiting > 0 {
				s.pipe.RequestKeyframe()
			}
			return
		}
		if err := s.newStreamLocked(au.Data); err != nil {
			s.log.Error("recorder: stream", "err", err)
			return
		}
	}
	if len(s.sessions) == 0 {
		// Nobody plays (the live view wants the stream, or a recorder is
		// between DESCRIBE and PLAY): nothing to packetize for.
		return
	}
	s.framer.Buf = s.framer.Buf[:0]
	if _, err := s.pk.Packetize(au.Data, ts, &s.framer); err != nil {
		s.log.Debug("recorder: packetize", "err", err)
		return
	}
	queued := false
	for _, sess := range s.sessions {
		if !sess.live.Load() || (sess.keyWait && !au.Key) {
			continue
		}
		if sess.q.PutChannel(s.framer.Buf, sess.channel) {
			sess.keyWait = false
			queued = true
			continue
		}
		sess.keyWait = true
		if sess.dropped.Add(1) == 1 {
			s.log.Warn("recorder too slow: access units dropped up to the next keyframe",
				"recorder", sess.name, "remote", sess.remote)
		}
	}
	if queued {
		s.frameOK.Add(1)
	}
}

// send is a session's sender: it writes the queued access units to the
// recorder's connection, one Write each (serialised with gortsplib's
// responses by rconn), until the queue is discarded (the session ended, or
// a Cut) or a write fails; then it aborts the connection, which ends the
// gortsplib session (OnSessionClose audits it).
func (s *Server) send(sess *session) {
	defer close(sess.sent)
	for {
		b, ok := sess.q.Next()
		if !ok {
			return
		}
		_ = sess.rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		err := sess.rc.writeFrames(b)
		sess.q.Pop()
		if err != nil {
			why := "write: " + err.Error()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				why = fmt.Sprintf("recorder stopped reading for %s", s.cfg.WriteTimeout)
			}
			sess.why.CompareAndSwap(nil, &why)
			sess.q.Discard()
			sess.rc.kill()
			return
		}
		sess.frames.Add(1)
	}
}

// newStreamLocked makes this epoch's stream from a keyframe's SPS and PPS.
func (s *Server) newStreamLocked(key []byte) error {
	var sps, pps []byte
	for nal, rest := pipeline.NextNAL(key); nal != nil; nal, rest = pipeline.NextNAL(rest) {
		switch nal[0] & 0x1f {
		case pipeline.NALSPS:
			sps = append([]byte(nil), nal...)
		case pipeline.NALPPS:
			pps = append([]byte(nil), nal...)
		}
	}
	if sps == nil || pps == nil {
		return errors.New("keyframe without SPS and PPS")
	}
	media := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
		PayloadTyp: payloadType, PacketizationMode: 1, SPS: sps, PPS: pps}}}
	st := &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{media}}}
	if err := st.Initialize(); err != nil {
		return err
	}
	// Our packets carry the SSRC gortsplib announces in SETUP's
	// Transport header (the stream's; it never sees them).
	for _, f := range st.Stats().Medias[media].Formats {
		s.pk.SetSSRC(f.LocalSSRC)
	}
	s.stream, s.media = st, media
	close(s.ready)
	return nil
}

// Cut implements pipeline.Output: called by the pipeline's Cut with the
// gate held closed, before the privacy request is acknowledged. It drops
// the stream, discards every session's send queue and closes every RTSP
// connection, each with SO_LINGER 0, so the kernel discards what is still
// in its send buffer and sends a reset (a polite close would go on
// delivering it); no write to a connection starts after it is cut, and one
// in progress has failed when the close returns. Sessions are not resumed:
// recorders reconnect, and are refused while privacy is on.
func (s *Server) Cut() {
	s.mu.Lock()
	s.epoch++
	st := s.stream
	s.stream, s.media = nil, nil
	s.ready = make(chan struct{})
	close(s.cut)
	s.cut = make(chan struct{})
	old := s.sessions
	s.sessions = map[*gortsplib.ServerSession]*session{}
	s.wanted.Add(-int32(len(old)))
	for _, sess := range old {
		sess.q.Discard()
		sess.bytes = sess.rc.sent.Load()
	}
	s.mu.Unlock()

	s.ln.abortAll()
	if st != nil {
		st.Close()
	}
	for _, sess := range old {
		s.finish(sess, "privacy: gate closed")
	}
}

// Close detaches the recorder stream from the pipeline, ends every
// session and stops the server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.pipe.Remove(s)
	s.Cut()
	s.srv.Close()
	s.audits.Close()
	return nil
}

// end removes a session that ended by itself and audits it.
func (s *Server) end(ss *gortsplib.ServerSession, why string) {
	s.mu.Lock()
	sess, ok := s.sessions[ss]
	if ok {
		delete(s.sessions, ss)
		s.wanted.Add(-1)
		sess.q.Discard()
		sess.bytes = sess.rc.sent.Load()
	}
	s.mu.Unlock()
	if ok {
		if w := sess.why.Load(); w != nil {
			why = *w
		}
		s.finish(sess, why)
	}
}

// changed asks the node to republish its status, where it can
// (agent.Agent.Refresh): the number of sessions changed. Never blocks.
func (s *Server) changed() {
	if ref := s.node.Load(); ref != nil {
		if r, ok := ref.Node.(interface{ Refresh() }); ok {
			r.Refresh()
		}
	}
}

// finish writes the session's end record, once.
func (s *Server) finish(sess *session, why string) {
	sess.once.Do(func() {
		s.changed() // it is out of s.sessions already
		end := s.clock.Now()
		rec := agent.SessionAudit(agent.KindRecording, Source, sess.name, why, agent.SessionRecord{
			Session: sess.id, Role: "recorder", Purpose: "recording", Remote: sess.remote,
			Start: sess.start, End: end, Frames: sess.frames.Load(), Bytes: sess.bytes})
		s.log.Info("recorder session ended", "recorder", sess.name, "remote", sess.remote, "why", why,
			"frames", sess.frames.Load(), "bytes", sess.bytes, "dropped_access_units", sess.dropped.Load())
		ref := s.node.Load()
		if ref == nil {
			return
		}
		record := func() {
			if err := ref.Record(rec); err != nil {
				s.log.Error("audit of recorder session failed", "recorder", sess.name, "err", err)
			}
		}
		s.audits.Go(record)
	})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// listener keeps the raw TCP connection of every accepted RTSP
// connection, so that Cut can abort each with SO_LINGER 0 (below TLS and
// below gortsplib, whatever they are doing), and wraps it in TLS (the
// handshake runs on gortsplib's first read) and in an rconn.
type listener struct {
	net.Listener
	tls   *tls.Config // nil: plain RTSP (loopback only, see New)
	mu    sync.Mutex
	conns map[string]*rconn // by remote address
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok { // cannot be aborted: never served
			_ = c.Close()
			continue
		}
		// Abortive close from the start: however the connection ends
		// (Cut, a write timeout, TEARDOWN, an error), the kernel never
		// goes on delivering what was left in its send buffer after the
		// socket is closed.
		_ = tc.SetLinger(0)
		rc := &rconn{Conn: tc, raw: tc}
		if l.tls != nil {
			rc.tls = tls.Server(tc, l.tls)
			rc.Conn = rc.tls
		}
		l.mu.Lock()
		l.conns[tc.RemoteAddr().String()] = rc
		l.mu.Unlock()
		return rc, nil
	}
}

// forget drops a connection gortsplib closed.
func (l *listener) forget(remote string) {
	l.mu.Lock()
	delete(l.conns, remote)
	l.mu.Unlock()
}

// abortAll resets every connection (rconn.kill).
func (l *listener) abortAll() {
	l.mu.Lock()
	conns := l.conns
	l.conns = map[string]*rconn{}
	l.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
}

// errCut is returned by writes on a connection that was aborted.
var errCut = errors.New("recorder: connection aborted")

// rconn is one recorder connection as gortsplib and the session's sender
// see it: TLS (or, on loopback only, plaintext) over one TCP connection.
// Every write is whole and under wmu (gortsplib writes each RTSP message
// with one Write; the sender each access unit's frames with one
// writeFrames), so RTP never splits an RTSP response or the other way
// round; sent counts both. kill closes the socket at once with SO_LINGER 0.
type rconn struct {
	net.Conn              // tls, or raw for plain RTSP
	raw      *net.TCPConn // the socket
	tls      *tls.Conn    // nil for plain RTSP
	wmu      sync.Mutex
	cut      atomic.Bool
	sent     atomic.Uint64 // bytes written (above TLS)
	// afterWrite runs once after gortsplib's next successful write: the
	// PLAY response (handler.OnResponse arms it), after which the
	// session's frames may follow.
	afterWrite atomic.Pointer[func()]
}

// Write is gortsplib's (RTSP responses).
func (c *rconn) Write(b []byte) (int, error) {
	n, err := c.write(b)
	if f := c.afterWrite.Swap(nil); f != nil && err == nil {
		(*f)()
	}
	return n, err
}

// writeFrames is the sender's (one access unit's interleaved frames).
func (c *rconn) writeFrames(b []byte) error {
	_, err := c.write(b)
	return err
}

func (c *rconn) write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.cut.Load() {
		return 0, errCut
	}
	n, err := c.Conn.Write(b)
	c.sent.Add(uint64(n))
	return n, err
}

// kill is the one way a recorder connection is cut (see Cut): no write
// starts after it; SO_LINGER 0, then close, which returns once the
// descriptor is closed (a write in progress has failed) and its send
// buffer discarded. It does not wait for wmu.
func (c *rconn) kill() {
	c.cut.Store(true)
	_ = c.raw.SetLinger(0)
	_ = c.raw.Close()
}

// Close is gortsplib's, when the connection ends: no frame is written
// after it; the TLS close alert, then the (abortive) close.
func (c *rconn) Close() error {
	c.cut.Store(true)
	return c.Conn.Close()
}
