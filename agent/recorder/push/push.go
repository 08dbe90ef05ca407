// SPDX-License-Identifier: Apache-2.0

package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/jonboulle/clockwork"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/recorder/interleave"
	"github.com/camnode/camnode/agent/rtph264"
	"github.com/camnode/camnode/firmware"
)

// Defaults.
const (
	DefaultMTU        = 1200    // RTP payload bytes per packet
	DefaultQueueBytes = 2 << 20 // access units waiting for the socket
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
	DefaultTimeout    = 10 * time.Second
	queueEntries      = 512
	payloadType       = 96
	maxPasswordBytes  = 1 << 10
)

// Source is the audit source of push records.
const Source agent.Source = "push"

// RolePush is the role of a push session (agent.SessionRecord.Role); its
// audit kind is agent.KindRecording, like a recorder's.
const RolePush = "push"

// Why a push session ended (agent.SessionRecord.Ended).
const (
	EndPrivacy = "privacy"      // a privacy cut closed it
	EndClosed  = "closed"       // the publisher was closed (node stopping)
	EndHub     = "hub: "        // prefix: the hub or the network ended it, with the error
	EndQueue   = "send stalled" // the hub stopped reading for longer than the timeout
)

// Auditor records audit records; *agent.Agent is one (Agent.Record).
type Auditor interface {
	Record(agent.AuditRecord) error
}

// Config configures a Publisher. Files are read once, by New.
type Config struct {
	// URL is the hub's publish endpoint: rtsps://hub[:port]/path (port
	// 322 by default). rtsp:// only with Insecure, and only to a loopback
	// address. No credentials in the URL.
	URL string
	// Insecure allows plaintext rtsp:// to a loopback address (tests, a
	// media server on the node's own loopback); warned at start.
	Insecure bool
	// CAFile is the site CA (PEM) that must have signed the hub's
	// certificate; required with rtsps://.
	CAFile string
	// CertFile and KeyFile are the node's client certificate (signed by
	// the site CA) presented to the hub; both or neither.
	CertFile, KeyFile string
	// User and PasswordFile are RTSP Digest credentials (Basic only if
	// the hub offers nothing else, and then only inside TLS); both or
	// neither. The password file must be a regular file readable by its
	// owner only (mode 0600 or stricter); one line, trailing newline ignored.
	User, PasswordFile string
	// With rtsps:// at least one of the client certificate and the Digest
	// credentials is required.

	MTU        int           // RTP payload size, default DefaultMTU
	QueueBytes int           // send queue, default DefaultQueueBytes
	MinBackoff time.Duration // first retry delay, default DefaultMinBackoff
	MaxBackoff time.Duration // longest retry delay, default DefaultMaxBackoff
	// Timeout bounds connecting, each RTSP request and each write (a hub
	// that stops reading for this long ends the session); default
	// DefaultTimeout.
	Timeout time.Duration

	// RequestKeyframe asks the pipeline for an IDR (a session started);
	// pipeline.Pipeline.RequestKeyframe. Optional.
	RequestKeyframe func()
	// OnChange is called when Connected changes (a session reached RECORD
	// or ended), from the publisher's goroutines or Cut, never holding its
	// lock and never blocking: agent.Agent.Refresh, so the node's status
	// says so at once. Optional.
	OnChange func()
	Auditor  Auditor // every session is recorded; optional in tests
	Logger   *slog.Logger
	Clock    clockwork.Clock // backoff and audit times; nil is the real clock
}

func (c *Config) defaults() error {
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	var errs []error
	if c.MTU < 200 || c.MTU > 1400 {
		errs = append(errs, fmt.Errorf("MTU %d: want 200..1400", c.MTU))
	}
	if c.QueueBytes < 64<<10 || c.QueueBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("QueueBytes %d: want 64 KiB..64 MiB", c.QueueBytes))
	}
	if c.MinBackoff < 10*time.Millisecond || c.MaxBackoff < c.MinBackoff || c.MaxBackoff > time.Hour {
		errs = append(errs, fmt.Errorf("backoff %v..%v: want 10ms <= min <= max <= 1h", c.MinBackoff, c.MaxBackoff))
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("Timeout %v: want 100ms..5m", c.Timeout))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("client certificate needs both a certificate file and a key file"))
	}
	if (c.User == "") != (c.PasswordFile == "") {
		errs = append(errs, errors.New("Digest credentials need both a user and a password file"))
	}
	for _, r := range c.User {
		if r < 0x20 || r == 0x7f || r == ':' || r == '"' {
			errs = append(errs, errors.New("user: no control characters, ':' or '\"'"))
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("push: %w", errors.Join(errs...))
	}
	return nil
}

// Publisher is a pipeline.Output that publishes the encoded stream to a
// hub's media server (RTSP ANNOUNCE/RECORD over TLS, TCP-interleaved, one
// H.264 track), reconnecting with backoff. See the package documentation.
type Publisher struct {
	cfg    Config
	log    *slog.Logger
	clock  clockwork.Clock
	target target
	tls    *tls.Config // nil: plaintext (insecure loopback)
	user   *url.Userinfo

	mu      sync.Mutex
	closed  bool
	running bool          // a runner is active (frames flow, not private)
	stop    chan struct{} // closed to stop the runner
	done    chan struct{} // closed when the runner has returned
	sess    *session      // recording, or nil
	dialing *pubConn      // connection being set up, or nil
	sps     []byte        // newest parameter sets (for the SDP)
	pps     []byte
	audits  agent.AuditQueue // session records being written

	q *interleave.Queue // one queue, reused by each session in turn

	// pipeline goroutine state (WriteAU)
	pk      *rtph264.Packetizer
	scratch []byte
	framer  interleave.Framer // channel 0: the one track's RTP channel
	packets uint64            // packets packetized (benchmarks)

	sessions atomic.Uint64 // sessions that reached RECORD (tests, status)
	failures atomic.Uint64 // connection attempts that failed
}

// session is one publishing connection in RECORD state.
type session struct {
	id      string
	start   time.Time
	client  *gortsplib.Client
	conn    *pubConn
	keyWait bool      // pipeline goroutine: send nothing before an IDR
	t0      time.Time // pipeline goroutine: capture time of RTP timestamp 0
	frames  atomic.Uint64
	bytes   atomic.Uint64
	drops   atomic.Uint64
	sendErr chan error // the sender's end
	sent    chan struct{}
	why     atomic.Pointer[string]
}

// New checks cfg, reads its files and returns a Publisher; it connects
// once frames flow (WriteAU). Close stops it.
func New(cfg Config) (*Publisher, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	t, err := parseTarget(cfg.URL, cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	p := &Publisher{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, target: t,
		q: interleave.NewQueue(cfg.QueueBytes, queueEntries)}
	if t.Secure {
		if p.tls, err = loadTLS(cfg, t.Name); err != nil {
			return nil, err
		}
		if cfg.CertFile == "" && cfg.User == "" {
			return nil, errors.New("push: rtsps:// needs credentials for the hub: a client certificate (push_cert_file, push_key_file) and/or Digest (push_user, push_password_file)")
		}
	} else {
		p.log.Warn("push: publishing in PLAINTEXT (push_insecure_plain = true) to a loopback address", "url", t.String())
	}
	if cfg.User != "" {
		pw, err := readPassword(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		p.user = url.UserPassword(cfg.User, pw)
	}
	var seq [6]byte
	_, _ = rand.Read(seq[:])
	p.pk = rtph264.New(cfg.MTU, uint16(seq[0])<<8|uint16(seq[1]))
	p.pk.SetPayloadType(payloadType)
	p.pk.SetSSRC(binary.BigEndian.Uint32(seq[2:]))
	p.scratch = make([]byte, 0, 256<<10)
	return p, nil
}

// loadTLS builds the TLS client configuration: the site CA verifies the
// hub (by the URL's host name), the client certificate, if any, is shown.
func loadTLS(cfg Config, name string) (*tls.Config, error) {
	if cfg.CAFile == "" {
		return nil, errors.New("push: rtsps:// needs push_ca_file (the site CA that signed the hub's certificate)")
	}
	pem, err := firmware.ReadFile(cfg.CAFile, firmware.MaxCertFileSize)
	if err != nil {
		return nil, fmt.Errorf("push: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("push: CA: %s holds no PEM certificate", cfg.CAFile)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: name}
	if cfg.CertFile != "" {
		cert, err := firmware.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("push: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// readPassword reads the Digest password: a regular file, not readable by
// group or others.
func readPassword(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("password file %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := firmware.ReadFile(path, maxPasswordBytes)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("password file %s: one line without control characters", path)
		}
	}
	return string(b), nil
}

// Target returns the push URL (without credentials).
func (p *Publisher) Target() string { return p.target.String() }

// Wanted implements pipeline.Output: a push always wants the stream while
// open (privacy is enforced upstream, by the gate and Cut).
func (p *Publisher) Wanted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed
}

// WriteAU implements pipeline.Output. Called from the pipeline goroutine;
// it never blocks on the network: the access unit is packetized into the
// send queue (dropped, and the stream resumed at the next IDR, when the
// queue is full). The first access unit after New or a Cut starts
// connecting.
func (p *Publisher) WriteAU(au *pipeline.AU) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if au.Key {
		p.keepParamSets(au.Data)
	}
	if !p.running {
		p.startLocked()
	}
	s := p.sess
	p.mu.Unlock()
	if s == nil {
		return
	}
	if s.keyWait {
		if !au.Key {
			p.requestKey()
			return
		}
		s.keyWait = false
		s.t0 = au.Time
	}
	ts := uint32(au.Time.Sub(s.t0).Microseconds() * 9 / 100) // 90 kHz
	p.framer.Buf = p.scratch[:0]
	n, err := p.pk.Packetize(au.Data, ts, &p.framer)
	if err != nil {
		return // cannot happen: the framer does not fail
	}
	p.packets += uint64(n)
	p.scratch = p.framer.Buf[:0] // keep any growth
	p.mu.Lock()
	ok := p.sess == s && p.q.Put(p.framer.Buf) // never into another session's queue
	p.mu.Unlock()
	if !ok {
		s.drops.Add(1)
		s.keyWait = true
		p.requestKey()
	}
}

// changed reports a change of Connected (Config.OnChange). Not holding
// p.mu.
func (p *Publisher) changed() {
	if p.cfg.OnChange != nil {
		p.cfg.OnChange()
	}
}

func (p *Publisher) requestKey() {
	if p.cfg.RequestKeyframe != nil {
		p.cfg.RequestKeyframe()
	}
}

// keepParamSets remembers the newest SPS and PPS for the SDP of the next
// session. Holding p.mu.
func (p *Publisher) keepParamSets(au []byte) {
	for nal, rest := pipeline.NextNAL(au); nal != nil; nal, rest = pipeline.NextNAL(rest) {
		switch nal[0] & 0x1f {
		case pipeline.NALSPS:
			p.sps = append(p.sps[:0], nal...)
		case pipeline.NALPPS:
			p.pps = append(p.pps[:0], nal...)
		}
	}
}

// startLocked starts the runner. Holding p.mu.
func (p *Publisher) startLocked() {
	p.running = true
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	go p.run(p.stop, p.done)
}

// Cut implements pipeline.Output (privacy on). Before it returns: the
// publishing TCP connection is closed with SO_LINGER 0, so unsent bytes in
// the kernel's send buffer are discarded (a reset, not a flush), the send
// queue is emptied, gortsplib's client is closed and the session is over.
// No connection is attempted again until frames flow (WriteAU).
func (p *Publisher) Cut() { p.halt(EndPrivacy) }

// Close ends the session for good (node stopping) and waits for its audit.
// It does not detach the publisher from the pipeline (Pipeline.Remove);
// after Close, WriteAU does nothing and Wanted is false.
func (p *Publisher) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.halt(EndClosed)
	p.audits.Close()
}

func (p *Publisher) halt(why string) {
	p.mu.Lock()
	s, d := p.sess, p.dialing
	stop, done, running := p.stop, p.done, p.running
	p.running, p.sess = false, nil
	if s != nil {
		s.why.CompareAndSwap(nil, &why)
	}
	p.mu.Unlock()
	// First the sockets, then the queue: nothing queued can reach a
	// socket that is gone, and nothing in the kernel survives the reset.
	if s != nil {
		s.conn.kill()
	}
	if d != nil {
		d.kill()
	}
	p.q.Discard()
	if running {
		close(stop)
		<-done
	}
	if s != nil {
		p.changed() // after the cut: nothing delays it
	}
}

// run connects, records until the session ends, and reconnects with
// exponential backoff, until stop.
func (p *Publisher) run(stop, done chan struct{}) {
	defer close(done)
	backoff := p.cfg.MinBackoff
	for {
		s, err := p.connect(stop)
		if err == nil {
			backoff = p.cfg.MinBackoff
			p.record(s, stop)
		} else {
			p.failures.Add(1)
			select {
			case <-stop:
				return
			default:
			}
			p.log.Warn("push: cannot publish to the hub; retrying", "url", p.target.String(), "in", backoff, "err", err)
		}
		select {
		case <-stop:
			return
		case <-p.clock.After(backoff):
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// connect dials the hub and takes the session to RECORD.
func (p *Publisher) connect(stop chan struct{}) (*session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var pc *pubConn
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{
		Scheme: "rtsp", // TLS is ours (dial): RTP/AVP inside TLS, no SRTP on top
		Host:   p.target.Host,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			conn, err := p.dial(ctx, stop)
			if err != nil {
				return nil, err
			}
			pc = conn
			return conn, nil
		},
		ReadTimeout:              p.cfg.Timeout,
		WriteTimeout:             p.cfg.Timeout,
		Transport:                &tcp,
		DisableRTCPSenderReports: true, // nothing but our frames is written while recording
		UserAgent:                "camnode",
	}
	if err := c.Start2(); err != nil {
		return nil, err
	}
	u := &base.URL{Scheme: "rtsp", Host: p.target.Host, User: p.user}
	if p.target.Secure {
		u.Scheme = "rtsps"
	}
	path, query, _ := cutQuery(p.target.Path)
	u.Path, u.RawQuery = path, query
	p.mu.Lock()
	h := &format.H264{PayloadTyp: payloadType, PacketizationMode: 1,
		SPS: append([]byte(nil), p.sps...), PPS: append([]byte(nil), p.pps...)}
	p.mu.Unlock()
	if len(h.SPS) == 0 || len(h.PPS) == 0 {
		h.SPS, h.PPS = nil, nil
	}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{h}}}}
	err := func() error {
		if _, err := c.Announce(u, desc); err != nil {
			return fmt.Errorf("ANNOUNCE: %w", err)
		}
		if err := c.SetupAll(u, desc.Medias); err != nil {
			return fmt.Errorf("SETUP: %w", err)
		}
		if _, err := c.Record(); err != nil {
			return fmt.Errorf("RECORD: %w", err)
		}
		return nil
	}()
	if err != nil {
		c.Close()
		p.clearDialing(pc)
		return nil, err
	}
	s := &session{id: agent.NewAuditID(), start: p.clock.Now(), client: c, conn: pc, keyWait: true,
		sendErr: make(chan error, 1), sent: make(chan struct{})}
	// The session's start is recorded, durably, before it is registered
	// (WriteAU queues nothing for it before): a session the audit trail
	// cannot record publishes nothing, and run retries with backoff.
	if err := p.begin(s); err != nil {
		c.Close()
		p.clearDialing(pc)
		return nil, err
	}
	p.mu.Lock()
	if p.dialing != pc || p.stop != stop || !p.running || p.closed {
		p.mu.Unlock()
		pc.kill()
		c.Close()
		s.why.CompareAndSwap(nil, &endStopped)
		p.audit(s) // pairs the start record
		return nil, errors.New("stopped while connecting")
	}
	p.dialing = nil
	p.q.Reset()
	p.sess = s
	p.mu.Unlock()
	p.changed()
	p.sessions.Add(1)
	p.log.Info("push: publishing to the hub", "url", p.target.String(), "session", s.id)
	go p.send(s)
	p.requestKey()
	return s, nil
}

func cutQuery(p string) (path, query string, ok bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

func (p *Publisher) clearDialing(pc *pubConn) {
	if pc == nil {
		return
	}
	pc.kill()
	p.mu.Lock()
	if p.dialing == pc {
		p.dialing = nil
	}
	p.mu.Unlock()
}

// dial opens the TCP connection (and TLS) and registers it, so a Cut
// during setup closes it too.
func (p *Publisher) dial(ctx context.Context, stop chan struct{}) (*pubConn, error) {
	d := net.Dialer{Timeout: p.cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", p.target.Host)
	if err != nil {
		return nil, err
	}
	pc := &pubConn{Conn: nc, raw: nc.(*net.TCPConn)}
	p.mu.Lock()
	if p.stop != stop || !p.running {
		p.mu.Unlock()
		pc.kill()
		return nil, errors.New("stopped while connecting")
	}
	p.dialing = pc
	p.mu.Unlock()
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			p.clearDialing(pc)
			return nil, fmt.Errorf("TLS: %w", err)
		}
		pc.Conn = tc
	}
	return pc, nil
}

// send is the session's sender: it writes queued access units to the
// connection, one Write each, until the queue dies or a write fails.
func (p *Publisher) send(s *session) {
	defer close(s.sent)
	for {
		b, ok := p.q.Next()
		if !ok {
			s.sendErr <- nil
			return
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(p.cfg.Timeout))
		n, err := s.conn.Write(b)
		p.q.Pop()
		if err != nil {
			s.sendErr <- err
			return
		}
		s.bytes.Add(uint64(n))
		s.frames.Add(1)
	}
}

// record waits for the session to end (the hub, the network, a stall, a
// cut), tears it down and audits it.
func (p *Publisher) record(s *session, stop chan struct{}) {
	var why string
	select {
	case <-stop:
	case err := <-s.sendErr:
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			why = EndQueue
		default:
			why = EndHub + err.Error()
		}
	case <-waitChan(s.client):
		why = EndHub + fmt.Sprint(s.client.Wait())
	}
	if why != "" {
		s.why.CompareAndSwap(nil, &why)
	}
	p.mu.Lock()
	ended := p.sess == s
	if ended {
		p.sess = nil
	}
	p.mu.Unlock()
	if ended {
		p.changed()
	}
	s.conn.kill()
	p.q.Discard()
	<-s.sent
	s.client.Close()
	p.audit(s)
}

// waitChan turns Client.Wait into a channel.
func waitChan(c *gortsplib.Client) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_ = c.Wait()
		close(ch)
	}()
	return ch
}

// endStopped is why a session whose start was recorded ended before it
// published (a cut or Close while it was being audited).
var endStopped = "stopped before publishing"

// begin writes the session's start record (agent.SessionStartAudit) and
// returns once it is recorded, or why it cannot be.
func (p *Publisher) begin(s *session) error {
	if p.cfg.Auditor == nil {
		return nil
	}
	rec := agent.SessionStartAudit(agent.KindRecording, Source, p.target.Name, agent.SessionRecord{
		Session: s.id, Role: RolePush, Purpose: "recording", Remote: p.target.String(), Start: s.start})
	if err := p.cfg.Auditor.Record(rec); err != nil {
		return errors.New(agent.UnauditedSession(err))
	}
	return nil
}

// audit writes the session's end record (agent.KindRecording, the shape of
// a viewer's).
func (p *Publisher) audit(s *session) {
	why := "ended"
	if w := s.why.Load(); w != nil {
		why = *w
	}
	end := p.clock.Now()
	rec := agent.SessionAudit(agent.KindRecording, Source, p.target.Name, why, agent.SessionRecord{
		Session: s.id, Role: RolePush, Purpose: "recording", Remote: p.target.String(),
		Start: s.start, End: end, Frames: s.frames.Load(), Bytes: s.bytes.Load()})
	p.log.Info("push: session ended", "session", s.id, "url", p.target.String(), "why", why,
		"frames", s.frames.Load(), "bytes", s.bytes.Load(), "dropped", s.drops.Load())
	if p.cfg.Auditor == nil {
		return
	}
	p.audits.Go(func() {
		if err := p.cfg.Auditor.Record(rec); err != nil {
			p.log.Error("push: audit of push session failed", "session", s.id, "err", err)
		}
	})
}

// Connected reports whether a session is recording now (for the node's
// status).
func (p *Publisher) Connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess != nil
}
