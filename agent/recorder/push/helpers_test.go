// SPDX-License-Identifier: Apache-2.0

package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/internal/waittest"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
	"github.com/camnode/camnode/agent/pipeline"
)

// ---- access units ----

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testAU is access unit seq: an IDR with SPS and PPS when key, else a P
// slice; the slice carries seq in its first payload bytes and is size
// bytes long (no zero bytes, so no emulated start codes).
func testAU(seq int, key bool, size int) *pipeline.AU {
	var b []byte
	if key {
		b = append(b, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8)
		b = append(b, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80)
	}
	typ := byte(0x41)
	if key {
		typ = 0x65
	}
	b = append(b, 0, 0, 0, 1, typ)
	for i := range 4 { // 7 bits a byte, never a zero byte
		b = append(b, 0x80|byte(seq>>(7*i))&0x7f)
	}
	for i := 5; i < size; i++ {
		b = append(b, byte(i%250+2))
	}
	return &pipeline.AU{Data: b, Time: t0.Add(time.Duration(seq) * time.Second / 30), Seq: uint64(seq), Key: key}
}

// auSeq reads testAU's sequence number back from a decoded access unit.
func auSeq(nalus [][]byte) (int, bool) {
	for _, n := range nalus {
		if len(n) >= 5 && (n[0]&0x1f == 1 || n[0]&0x1f == 5) {
			seq := 0
			for i := range 4 {
				seq |= int(n[1+i]&0x7f) << (7 * i)
			}
			return seq, n[0]&0x1f == 5
		}
	}
	return 0, false
}

// ---- the hub: gortsplib's server ----

type hubOpts struct {
	tls        *tls.Config // nil: plaintext
	user, pass string      // Digest required when set
	// firstPacket, if set, is called when the first RTP packet of a
	// session arrives (before it is decoded).
	firstPacket func()
}

// testHub is a publish endpoint: gortsplib's own server on 127.0.0.1 that
// accepts ANNOUNCE/SETUP/RECORD and decodes what it gets.
type testHub struct {
	t    testing.TB
	srv  *gortsplib.Server
	opts hubOpts
	addr string

	conns    atomic.Int32 // connections accepted
	records  atomic.Int32 // sessions that reached RECORD
	packets  atomic.Int64 // RTP packets received
	announce chan *description.Session

	mu     sync.Mutex
	seqs   []int  // decoded access units in order of arrival
	keys   []bool // whether each was an IDR
	peerCN []string
	raw    []*stallConn // accepted sockets
	stall  bool
}

func newHub(t testing.TB, o hubOpts) *testHub {
	t.Helper()
	h := &testHub{t: t, opts: o, announce: make(chan *description.Session, 16)}
	h.srv = &gortsplib.Server{
		Handler:     h,
		RTSPAddress: "127.0.0.1:0",
		TLSConfig:   o.tls,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			h.addr = l.Addr().String()
			return &stallListener{Listener: l, h: h}, nil
		},
	}
	if o.user != "" {
		h.srv.AuthMethods = []auth.VerifyMethod{auth.VerifyMethodDigestMD5}
	}
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h
}

func (h *testHub) close() {
	h.setStall(false)
	h.srv.Close()
}

func (h *testHub) url(scheme string) string { return scheme + "://" + h.addr + "/node-1" }

func (h *testHub) OnConnOpen(*gortsplib.ServerHandlerOnConnOpenCtx) { h.conns.Add(1) }

func (h *testHub) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if h.opts.user != "" && !ctx.Conn.VerifyCredentials(ctx.Request, h.opts.user, h.opts.pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	if tc, ok := ctx.Conn.NetConn().(*tls.Conn); ok {
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			h.mu.Lock()
			h.peerCN = append(h.peerCN, pc[0].Subject.CommonName)
			h.mu.Unlock()
		}
	}
	if ctx.Path != "/node-1" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	select {
	case h.announce <- ctx.Description:
	default:
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *testHub) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (h *testHub) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	h.records.Add(1)
	for _, m := range ctx.Session.AnnouncedDescription().Medias {
		for _, f := range m.Formats {
			hf, ok := f.(*format.H264)
			if !ok {
				continue
			}
			dec, err := hf.CreateDecoder()
			if err != nil {
				h.t.Error(err)
				continue
			}
			var first sync.Once
			ctx.Session.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
				h.packets.Add(1)
				if h.opts.firstPacket != nil {
					first.Do(h.opts.firstPacket)
				}
				nalus, err := dec.Decode(pkt)
				if err != nil {
					return // fragments before the end of an access unit
				}
				if seq, key := auSeq(nalus); seq > 0 || key {
					h.mu.Lock()
					h.seqs = append(h.seqs, seq)
					h.keys = append(h.keys, key)
					h.mu.Unlock()
				}
			})
		}
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// received returns the sequence numbers of the access units decoded so far.
func (h *testHub) received() (seqs []int, keys []bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.seqs...), append([]bool(nil), h.keys...)
}

func (h *testHub) cns() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.peerCN...)
}

// setStall makes the hub stop (true) or resume (false) reading its sockets.
func (h *testHub) setStall(on bool) {
	h.mu.Lock()
	h.stall = on
	conns := append([]*stallConn(nil), h.raw...)
	h.mu.Unlock()
	for _, c := range conns {
		c.set(on)
	}
}

func (h *testHub) sockets() []*stallConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*stallConn(nil), h.raw...)
}

type stallListener struct {
	net.Listener
	h *testHub
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stallConn{Conn: c, tcp: c.(*net.TCPConn)}
	sc.cond.L = &sc.mu
	l.h.mu.Lock()
	sc.stalled = l.h.stall
	l.h.raw = append(l.h.raw, sc)
	l.h.mu.Unlock()
	return sc, nil
}

// stallConn is the hub's side of a socket, below TLS: it counts the bytes
// the server read and can stop reading (so data piles up in the kernel).
type stallConn struct {
	net.Conn
	tcp     *net.TCPConn
	mu      sync.Mutex
	cond    sync.Cond
	stalled bool
	read    atomic.Int64
	readErr error
}

func (c *stallConn) set(on bool) {
	c.mu.Lock()
	c.stalled = on
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *stallConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	for c.stalled {
		c.cond.Wait()
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	if err != nil {
		c.mu.Lock()
		if c.readErr == nil {
			c.readErr = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *stallConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// ---- credentials ----

type creds struct {
	pki               *mqtttest.PKI
	hubCert, hubKey   string
	nodeCert, nodeKey string
	passwordFile      string
}

func newCreds(t testing.TB, password string) *creds {
	t.Helper()
	c := &creds{pki: mqtttest.NewPKI(t)}
	c.hubCert, c.hubKey = c.pki.Issue(t, "hub", true)
	c.nodeCert, c.nodeKey = c.pki.Issue(t, "node-1", false)
	c.passwordFile = filepath.Join(t.TempDir(), "push.password")
	if err := os.WriteFile(c.passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// hubTLS is the hub's TLS configuration; requireCert asks for a node
// certificate signed by the site CA.
func (c *creds) hubTLS(t testing.TB, requireCert bool) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.hubCert, c.hubKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(c.pki.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	if requireCert {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc
}

// ---- audit and logs ----

// auditLog is the auditor: recs has every record, ch the end records
// (kind "recording") as they come.
type auditLog struct {
	mu   sync.Mutex
	recs []agent.AuditRecord
	fail error // Record's error, if set
	ch   chan agent.AuditRecord
}

func newAuditLog() *auditLog { return &auditLog{ch: make(chan agent.AuditRecord, 64)} }

func (a *auditLog) Record(r agent.AuditRecord) error {
	a.mu.Lock()
	if err := a.fail; err != nil {
		a.mu.Unlock()
		return err
	}
	a.recs = append(a.recs, r)
	a.mu.Unlock()
	if r.Kind == agent.KindRecording {
		a.ch <- r
	}
	return nil
}

// setFail makes Record fail with err (nil: succeed again).
func (a *auditLog) setFail(err error) {
	a.mu.Lock()
	a.fail = err
	a.mu.Unlock()
}

// records returns the records so far.
func (a *auditLog) records() []agent.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]agent.AuditRecord(nil), a.recs...)
}

// logSink keeps log messages (and their "err" attributes) for assertions.
type logSink struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.Key + "=" + a.Value.String()
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, s)
	l.mu.Unlock()
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }

func (l *logSink) find(sub string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			return m, true
		}
	}
	return "", false
}

// ---- waiting ----

// waitFor polls cond until it holds; the deadline only turns a hang into a
// failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waittest.Until(t, 30*time.Second, what, cond)
}

// feed writes access units seq from..to-1 (an IDR every 10) to p.
func feed(p *Publisher, from, to, size int) {
	for i := from; i < to; i++ {
		p.WriteAU(testAU(i, i%10 == 0, size))
	}
}

func (h *testHub) seqsNow() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seqs
}
