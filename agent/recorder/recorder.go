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
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/jonboulle/clockwork"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/ratelimit"
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
	// WriteTimeout bounds one blocked write to a recorder (gortsplib's,
	// default 10s): a recorder that stops reading for longer is dropped.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	Clock        clockwork.Clock
}

// Server is the recorder stream: a pipeline.Output that packetizes the
// pipeline's access units once and hands them to every playing RTSP
// session, and the RTSP(S) server recorders pull from. See doc.go.
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
	out     streamWriter
	t0      time.Time
	frameOK atomic.Uint64 // access units handed to the stream
}

type nodeRef struct{ Node }

// connState is what the server knows about one RTSP connection.
type connState struct {
	remote string
	nonce  string // Digest nonce of this connection
	name   string // authenticated recorder, or ""
	tls    *tls.Conn
}

// session is one recorder's playing RTSP session.
type session struct {
	id      string // the audit records' session id
	name    string
	remote  string
	start   time.Time
	conn    *gortsplib.ServerConn
	frames  atomic.Uint64
	dropped atomic.Uint64 // packets gortsplib could not queue (a slow recorder)
	bytes   uint64        // set when it ends
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
	s.ln = &listener{Listener: cfg.Listener, tls: cfg.TLS, conns: map[string]*net.TCPConn{}}
	s.srv = &gortsplib.Server{
		Handler:     (*handler)(s),
		RTSPAddress: cfg.Listener.Addr().String(),
		// TLS is ours (the listener wraps each connection), not
		// gortsplib's: with its TLSConfig set, gortsplib also offers
		// SRTP (RTP/SAVP with MIKEY) and encrypts every packet for it
		// into a second fresh buffer, whether a reader uses it or not.
		// The recorders take RTP/AVP over TLS.
		WriteTimeout: cfg.WriteTimeout,
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

// streamWriter adapts the stream to rtph264.Writer without allocating.
type streamWriter struct {
	st    *gortsplib.ServerStream
	media *description.Media
	ntp   time.Time
}

func (w *streamWriter) WriteRTP(p *rtp.Packet) error {
	return w.st.WritePacketRTPWithNTP(w.media, p, w.ntp)
}

// WriteAU implements pipeline.Output. The first keyframe of an epoch
// creates the epoch's stream (its SPS and PPS go into the SDP); every
// access unit is packetized once onto it.
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
		// between DESCRIBE and PLAY): gortsplib would marshal every
		// packet for no reader.
		return
	}
	s.out.ntp = au.Time
	if _, err := s.pk.Packetize(au.Data, ts, &s.out); err != nil {
		s.log.Debug("recorder: write", "err", err)
	}
	s.frameOK.Add(1)
	for _, sess := range s.sessions {
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
	s.stream, s.media = st, media
	s.out = streamWriter{st: st, media: media}
	close(s.ready)
	return nil
}

// Cut implements pipeline.Output: called by the pipeline's Cut with the
// gate held closed, before the privacy request is acknowledged. It drops
// the stream and closes every RTSP connection, each with SO_LINGER 0, so
// the kernel discards what is still in its send buffer and sends a reset
// (a polite close would go on delivering it); gortsplib's write queues go
// with the connections and the stream. Sessions are not resumed:
// recorders reconnect, and are refused while privacy is on.
func (s *Server) Cut() {
	s.mu.Lock()
	s.epoch++
	st := s.stream
	s.stream, s.media, s.out = nil, nil, streamWriter{}
	s.ready = make(chan struct{})
	close(s.cut)
	s.cut = make(chan struct{})
	old := s.sessions
	s.sessions = map[*gortsplib.ServerSession]*session{}
	s.wanted.Add(-int32(len(old)))
	for _, sess := range old {
		sess.bytes = sess.conn.Stats().BytesSent
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
		sess.bytes = sess.conn.Stats().BytesSent
	}
	s.mu.Unlock()
	if ok {
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
			"frames", sess.frames.Load(), "bytes", sess.bytes, "dropped_packets", sess.dropped.Load())
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
// handshake runs on gortsplib's first read).
type listener struct {
	net.Listener
	tls   *tls.Config // nil: plain RTSP (loopback only, see New)
	mu    sync.Mutex
	conns map[string]*net.TCPConn // by remote address
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		// Abortive close from the start: however the connection ends
		// (Cut, a write timeout, TEARDOWN, an error), the kernel never
		// goes on delivering what was left in its send buffer after the
		// socket is closed.
		_ = tc.SetLinger(0)
		l.mu.Lock()
		l.conns[tc.RemoteAddr().String()] = tc
		l.mu.Unlock()
	}
	if l.tls != nil {
		return tls.Server(c, l.tls), nil
	}
	return c, nil
}

// forget drops a connection gortsplib closed.
func (l *listener) forget(remote string) {
	l.mu.Lock()
	delete(l.conns, remote)
	l.mu.Unlock()
}

// abortAll resets every connection: SO_LINGER 0, then close, which
// returns once the descriptor is closed and its send buffer discarded.
func (l *listener) abortAll() {
	l.mu.Lock()
	conns := l.conns
	l.conns = map[string]*net.TCPConn{}
	l.mu.Unlock()
	for _, c := range conns {
		abort(c)
	}
}

// abort is the one way a recorder connection is cut (see Cut).
func abort(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
