// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
)

const testNode = "node-1"

// fakeNode is the agent as the live view sees it.
type fakeNode struct {
	mu      sync.Mutex
	st      agent.Status
	records []agent.AuditRecord
	fail    error // the auditor's error, if set
}

func newFakeNode() *fakeNode {
	return &fakeNode{st: agent.Status{Node: testNode, Privacy: false, Recording: true, Capture: "streaming"}}
}

func (n *fakeNode) Status() agent.Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st
}

func (n *fakeNode) setPrivate(on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.st.Privacy, n.st.Recording = on, !on
	n.st.Capture = map[bool]string{true: "off", false: "streaming"}[on]
}

func (n *fakeNode) Refresh() {}

func (n *fakeNode) Record(r agent.AuditRecord) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail != nil {
		return n.fail
	}
	n.records = append(n.records, r)
	return nil
}

// failAudit makes the auditor fail (nil: succeed again).
func (n *fakeNode) failAudit(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fail = err
}

// Ended returns the end records of sessions (kind "view").
func (n *fakeNode) Ended() []agent.AuditRecord { return n.kind(agent.KindView) }

// Started returns the start records of sessions (kind "view_start").
func (n *fakeNode) Started() []agent.AuditRecord { return n.kind(agent.KindViewStart) }

func (n *fakeNode) kind(k string) []agent.AuditRecord {
	var out []agent.AuditRecord
	for _, r := range n.Records() {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

func (n *fakeNode) Records() []agent.AuditRecord {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]agent.AuditRecord(nil), n.records...)
}

// keys is a hub key pair plus a stranger's key for forgeries.
type keys struct {
	pub           ed25519.PublicKey
	priv, forgery ed25519.PrivateKey
}

func newKeys(t testing.TB) keys {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	return keys{pub: pub, priv: priv, forgery: other}
}

func (k keys) mint(t testing.TB, now time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := token.Mint(k.priv, testNode, "alice", "staff", "fall check", now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newServer starts a live view on loopback with a fake node.
func newServer(t testing.TB, k keys, clock clockwork.Clock, mod ...func(*Config)) (*Server, *fakeNode) {
	t.Helper()
	cfg := Config{NodeID: testNode, HubKey: k.pub, AllowedRoles: []string{"staff", "security"},
		Interfaces: []string{"lo"}, Clock: clock, MaxViewers: 8}
	for _, m := range mod {
		m(&cfg)
	}
	if cfg.Pipeline == nil {
		p, err := pipeline.New(pipeline.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		cfg.Pipeline = p
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := newFakeNode()
	s.SetNode(n)
	t.Cleanup(func() { _ = s.Close() })
	return s, n
}

// feedFrames feeds synthetic stamped w×h frames (30 fps) to s's pipeline
// at real time until the test ends, and waits until the pipeline is live.
// It returns the gate the frames pass (see gatedSink).
func feedFrames(t testing.TB, s *Server, w, h int) *sync.RWMutex {
	t.Helper()
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: w, Height: h, Pixel: capture.I420, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gate := new(sync.RWMutex)
	go func() { _ = cam.Stream(ctx, gatedSink{s: s, gate: gate}) }()
	waitCond(t, 5*time.Second, "frames", func() bool { return s.pipe.Live() })
	return gate
}

// gatedSink plays the agent's gate: frames take the read lock, Cut the
// write lock.
type gatedSink struct {
	s    *Server
	gate *sync.RWMutex
}

func (g gatedSink) Started(capture.Format) {}
func (g gatedSink) Frame(f *capture.Frame) {
	g.gate.RLock()
	defer g.gate.RUnlock()
	g.s.pipe.WriteFrame(f)
}

// receiver is a pion viewer that records every RTP packet it gets.
type receiver struct {
	pc      *webrtc.PeerConnection
	pkts    chan *rtp.Packet
	ssrc    chan uint32
	connect chan struct{}
	closed  chan struct{}
	// newest is the highest sequence number received (serial number
	// arithmetic), plus 1<<16 once one was: retransmissions of older
	// packets do not lower it.
	newest atomic.Uint32
}

// newestSeq is the highest sequence number r has received.
func (r *receiver) newestSeq(t testing.TB) uint16 {
	t.Helper()
	v := r.newest.Load()
	if v == 0 {
		t.Fatal("no packet received")
	}
	return uint16(v)
}

// generousNACKAge is the NACK responder's age limit in tests that NACK
// packets after a cut: the packets must be ones the node would still
// re-send but for the cut, however busy the machine.
func generousNACKAge(c *Config) { c.NACKMaxAge = time.Minute }

// resendable counts the packets of seqs that the node's NACK responder
// (age limit maxAge, ring of nackBufferSize) would still re-send, but for
// a cut, when NACKs sent now reach it: younger than maxAge/2 by their
// arrival at the viewer (which bounds their age at the node; the half is
// the margin for the NACKs' way), and not overwritten in the ring by the
// newest packet the viewer got (a quarter of the ring is the margin for
// packets sent and not yet read).
func resendable(seqs []uint16, arrived map[uint16]time.Time, newest uint16, maxAge time.Duration) int {
	n := 0
	for _, q := range seqs {
		if time.Since(arrived[q]) < maxAge/2 && int(newest-q) < nackBufferSize*3/4 {
			n++
		}
	}
	return n
}

func newReceiver(t testing.TB, interceptors bool) *receiver {
	t.Helper()
	return buildReceiver(t, interceptors, nil)
}

// buildReceiver is a loopback-only pion viewer with SRTP replay protection
// off (so retransmissions are visible); mux, if not nil, carries its ICE.
func buildReceiver(t testing.TB, interceptors bool, mux ice.UDPMux) *receiver {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if interceptors {
		if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{}
	if mux != nil {
		se.SetICEUDPMux(mux)
	}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.DisableSRTPReplayProtection(true) // so retransmissions are visible
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{pc: pc, pkts: make(chan *rtp.Packet, 100000), ssrc: make(chan uint32, 1),
		connect: make(chan struct{}), closed: make(chan struct{})}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	var once, conOnce sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			conOnce.Do(func() { close(r.connect) })
		case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected:
			once.Do(func() { close(r.closed) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		r.ssrc <- uint32(tr.SSRC())
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if v := r.newest.Load(); v == 0 || int16(p.SequenceNumber-uint16(v)) > 0 {
				r.newest.Store(1<<16 | uint32(p.SequenceNumber))
			}
			select {
			case r.pkts <- p:
			default:
			}
		}
	})
	return r
}

// offer makes the receiver's offer (ICE gathered).
func (r *receiver) offer(t testing.TB) string {
	t.Helper()
	o, err := r.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(r.pc)
	if err := r.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return r.pc.LocalDescription().SDP
}

func (r *receiver) answer(t testing.TB, sdp string) {
	t.Helper()
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
}

// nack asks the sender to resend seqs.
func (r *receiver) nack(ssrc uint32, seqs []uint16) error {
	return r.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc,
		Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
}

// waitFor waits for ch or fails after d.
func waitFor[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
	var zero T
	return zero
}

// signClaims signs arbitrary claims with key using method.
func signClaims(t testing.TB, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// markLive tells s's pipeline that frames are flowing (as the first frame
// after the gate opened does), so that offers are admitted.
func markLive(s *Server) {
	f := capture.Format{Width: 16, Height: 16, Pixel: capture.I420}
	s.pipe.WriteFrame(&capture.Frame{Data: make([]byte, f.FrameSize()), Format: f, Time: time.Now()})
}
