// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/webrtc/v4"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/ratelimit"
	"github.com/camnode/camnode/agent/rtph264"
	"github.com/camnode/camnode/firmware"
)

// Defaults and limits.
const (
	DefaultMaxViewers = 4
	// MaxOfferSize bounds the SDP offer body (413 above it).
	MaxOfferSize = 32 << 10
	// DefaultMTU is the largest RTP payload sent.
	DefaultMTU = 1200
	// DefaultNACKMaxAge is Config.NACKMaxAge's default: packets older than
	// this are not re-sent (a late retransmission is useless to a live
	// viewer, and it bounds what can be sent again).
	DefaultNACKMaxAge = time.Second
	// nackBufferSize is the per-sender retransmission ring (packets of at
	// most MTU bytes, see nack.go). Cut discards it by closing the peer
	// connection.
	nackBufferSize = 512
	// gatherTimeout bounds ICE gathering for one answer.
	gatherTimeout = 5 * time.Second
	// A viewer that stops answering (gone without DELETE: closed lid, lost
	// Wi-Fi, killed browser) is "disconnected" after iceDisconnected
	// without a packet from it and "failed", which frees its slot, after
	// iceDisconnected+iceFailed. The node asks for consent (STUN binding
	// requests, RFC 7675) every iceKeepalive, so a live viewer always has
	// something to answer.
	iceDisconnected = 3 * time.Second
	iceFailed       = 3 * time.Second
	iceKeepalive    = time.Second
	// DefaultConnectTimeout bounds how long an answered offer may hold a
	// slot before its viewer connects.
	DefaultConnectTimeout = 10 * time.Second
)

// throttledKey is the one bucket of the global limiter on verifications
// for throttled addresses.
const throttledKey = "*"

// throttledVerifyRate and throttledVerifyBurst are the global budget of
// failed verifications for addresses that are themselves throttled (see
// handleOffer): a valid token from such an address is still accepted
// while the budget lasts; an Ed25519 verification costs well under a
// millisecond on a Pi.
const (
	throttledVerifyRate  = 50
	throttledVerifyBurst = 100
)

// Source is the audit source of live-view records.
const Source agent.Source = "liveview"

// Config configures a live view.
type Config struct {
	// NodeID is this node's id: tokens must name it as their audience.
	NodeID string
	// HubKey verifies viewer tokens (the identity's hub_key).
	HubKey ed25519.PublicKey
	// AllowedRoles are the roles that may view (e.g. staff, security).
	AllowedRoles []string
	MaxViewers   int // default DefaultMaxViewers
	// Pipeline is the frame pipeline whose encoded stream the live view
	// sends (required): New attaches the server as one of its outputs,
	// Close detaches it. Frame rate and bitrate are the pipeline's.
	Pipeline *pipeline.Pipeline
	// UDPPort is the one UDP port for all media (ICE UDP mux); 0 picks one
	// (tests).
	UDPPort int
	// Interfaces names the network interfaces whose addresses become ICE
	// host candidates and on which the UDP port is bound; empty means
	// every non-loopback interface. "lo" allows loopback (tests, demo).
	Interfaces []string
	// FailRate and FailBurst limit failed attempts (bad tokens) per remote
	// address: a token bucket of FailBurst refilled at FailRate per second.
	// Defaults 0.2/s and 5.
	FailRate  float64
	FailBurst int
	MTU       int // default DefaultMTU
	Logger    *slog.Logger
	// Clock drives token checks and expiry timers; nil is the real clock.
	Clock clockwork.Clock
	// UsedTokensPath is the file that remembers used token ids (jti) until
	// the tokens expire, so a token opens one session even across
	// restarts (usedtokens.go). Empty keeps them in memory only (tests).
	UsedTokensPath string
	// ConnectTimeout bounds how long an answered offer may hold a viewer
	// slot before its peer connects; default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Masks are the identity's privacy masks (issue 13). They are burned
	// into the picture by the pipeline, never here; the live view only
	// tells a viewer whose token has InstallerRole where they are (the
	// MasksHeader of the WHEP answer), so the page can outline them for
	// aligning. Other viewers learn nothing about them.
	Masks []firmware.Mask
	// NACKMaxAge: the NACK responder re-sends no packet older than this
	// (nack.go); default DefaultNACKMaxAge, at most a minute. Tests that
	// must NACK packets the node would still re-send but for a cut set it
	// generously, so that a busy machine cannot age the packets out.
	NACKMaxAge time.Duration
}

// InstallerRole is the token role that is shown where the privacy masks
// are (it must also be one of Config.AllowedRoles to view at all).
const InstallerRole = "installer"

// MasksHeader carries the privacy masks, as the identity's JSON (relative
// coordinates), in the WHEP answer to a viewer with InstallerRole.
const MasksHeader = "X-Camnode-Masks"

func (c *Config) defaults() error {
	if c.MaxViewers == 0 {
		c.MaxViewers = DefaultMaxViewers
	}
	if c.FailRate == 0 {
		c.FailRate = 0.2
	}
	if c.FailBurst == 0 {
		c.FailBurst = 5
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.NACKMaxAge == 0 {
		c.NACKMaxAge = DefaultNACKMaxAge
	}
	var errs []error
	if c.MaxViewers < 1 || c.MaxViewers > 64 {
		errs = append(errs, fmt.Errorf("MaxViewers %d: want 1..64", c.MaxViewers))
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		errs = append(errs, fmt.Errorf("UDPPort %d: want 0..65535", c.UDPPort))
	}
	if c.MTU < 200 || c.MTU > 1400 {
		errs = append(errs, fmt.Errorf("MTU %d: want 200..1400", c.MTU))
	}
	if c.NACKMaxAge < 0 || c.NACKMaxAge > time.Minute {
		errs = append(errs, fmt.Errorf("NACKMaxAge %v: want 0 (default) up to 1m", c.NACKMaxAge))
	}
	if len(errs) > 0 {
		return fmt.Errorf("liveview: %w", errors.Join(errs...))
	}
	return nil
}

// Node is what the live view needs from the agent.
type Node interface {
	Status() agent.Status
	Record(agent.AuditRecord) error
	// Refresh asks for a status republish (the viewer count changed).
	// It must not block.
	Refresh()
}

// viewersChanged tells the agent that the viewer count changed.
func (s *Server) viewersChanged() {
	if ref := s.node.Load(); ref != nil {
		ref.Refresh()
	}
}

// Server is the live view: a pipeline.Output that packetizes the pipeline's
// encoded stream once and sends it to every authorised viewer, and the
// WHEP endpoint viewers connect to.
type Server struct {
	cfg    Config
	log    *slog.Logger
	clock  clockwork.Clock
	verify *token.Verifier
	lim    *ratelimit.Limiter // failed attempts per remote address
	glim   *ratelimit.Limiter // failed verifications for throttled addresses, all together
	api    *webrtc.API
	mux    ice.UDPMux

	// masksJSON is Config.Masks for MasksHeader, or "" without masks.
	masksJSON string

	node atomic.Pointer[nodeRef]
	pipe *pipeline.Pipeline

	// mu guards the session set, the epoch and the shared track. WriteAU
	// writes packets holding the read lock; Cut takes the write lock to
	// bump the epoch and drop the track. (The pipeline's own epoch already
	// keeps every access unit built before a cut away from WriteAU.)
	mu       sync.RWMutex
	epoch    uint64
	closed   bool
	sessions map[string]*session
	opening  int // sessions being negotiated (count against MaxViewers)
	track    *joinTrack

	viewers  atomic.Int32     // len(sessions) + opening
	audits   agent.AuditQueue // session records being written
	frameOut atomic.Uint64    // access units sent

	// pipeline goroutine state (WriteAU)
	pk *rtph264.Packetizer
	t0 time.Time
}

type nodeRef struct{ Node }

// New builds a live view. It binds the UDP port; the HTTPS side is served
// by Handler (see Serve). Call Close when done.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Pipeline == nil {
		return nil, errors.New("liveview: no Pipeline to take the stream from")
	}
	v, err := token.NewVerifier(cfg.HubKey, cfg.NodeID, cfg.AllowedRoles, cfg.Clock.Now)
	if err != nil {
		return nil, fmt.Errorf("liveview: %w", err)
	}
	if cfg.UsedTokensPath != "" {
		if err := v.SetStore(usedTokensFile{cfg.UsedTokensPath}); err != nil {
			// Not fatal for the node (capture, privacy and audit go on);
			// every viewer is refused with this cause until it is fixed.
			cfg.Logger.Error("live view: refusing every viewer token until the used-token file is readable",
				"path", cfg.UsedTokensPath, "err", err)
		}
	}
	var masksJSON string
	for i, m := range cfg.Masks {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("liveview: mask %d: %w", i, err)
		}
	}
	if len(cfg.Masks) > 0 {
		b, err := json.Marshal(cfg.Masks)
		if err != nil {
			return nil, fmt.Errorf("liveview: masks: %w", err)
		}
		masksJSON = string(b)
	}
	s := &Server{
		masksJSON: masksJSON,
		cfg:       cfg, log: cfg.Logger, clock: cfg.Clock, verify: v,
		lim:      ratelimit.New(cfg.FailRate, cfg.FailBurst, cfg.Clock.Now),
		glim:     ratelimit.New(throttledVerifyRate, throttledVerifyBurst, cfg.Clock.Now),
		sessions: map[string]*session{},
		pipe:     cfg.Pipeline,
	}
	var seq [2]byte
	_, _ = rand.Read(seq[:])
	s.pk = rtph264.New(cfg.MTU, uint16(seq[0])<<8|uint16(seq[1]))
	if s.api, s.mux, err = newAPI(cfg); err != nil {
		return nil, err
	}
	s.pipe.Add(s)
	return s, nil
}

// newAPI builds the pion API: H.264 only (no audio codec at all), our NACK
// responder and pion's sender reports, one UDP port on the configured
// interfaces, no mDNS, no STUN.
func newAPI(cfg Config) (*webrtc.API, ice.UDPMux, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	for i, fmtp := range []string{
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
	} {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: fmtp, RTCPFeedback: fb},
			PayloadType: webrtc.PayloadType(102 + 2*i),
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, nil, fmt.Errorf("liveview: %w", err)
		}
	}
	ir, err := newInterceptors(cfg)
	if err != nil {
		return nil, nil, err
	}

	keep := func(name string) bool {
		if len(cfg.Interfaces) == 0 {
			return name != "lo"
		}
		return slices.Contains(cfg.Interfaces, name)
	}
	opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithInterfaceFilter(keep),
		ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4, ice.NetworkTypeUDP6)}
	loop := slices.Contains(cfg.Interfaces, "lo")
	if loop {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback())
	}
	mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("liveview: udp port %d: %w", cfg.UDPPort, err)
	}
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(keep)
	se.SetIncludeLoopbackCandidate(loop)
	// Dead viewers are found within seconds, not pion's default 30 s.
	se.SetICETimeouts(iceDisconnected, iceFailed, iceKeepalive)
	// Answer a=setup:passive: the viewer starts DTLS once it has applied
	// our answer, so our hello can never arrive before it knows our
	// fingerprint (some stacks fail the handshake then).
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		_ = mux.Close()
		return nil, nil, fmt.Errorf("liveview: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return api, mux, nil
}

// newInterceptors is the RTP/RTCP chain of every peer connection: our NACK
// responder and pion's sender reports. Every RTCP packet a viewer sends
// passes through it (FuzzRTCP).
func newInterceptors(cfg Config) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	// Our own NACK responder (nack.go), not pion's: it allocates nothing
	// per packet. First in the chain, as pion's was: it writes re-sent
	// packets straight to SRTP, below the sender reports.
	ir.Add(newNACKResponder(nackBufferSize, cfg.MTU, cfg.NACKMaxAge))
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("liveview: %w", err)
	}
	ir.Add(sr)
	return ir, nil
}

// SetNode connects the live view to the agent (status for admission,
// Record for audit). Sessions are refused until it is set.
func (s *Server) SetNode(n Node) { s.node.Store(&nodeRef{n}) }

// Viewers returns the number of sessions open or being opened
// (agent.ViewerCounter).
func (s *Server) Viewers() int { return int(s.viewers.Load()) }

// UDPAddrs returns the local addresses of the media port.
func (s *Server) UDPAddrs() []string {
	var out []string
	for _, a := range s.mux.GetListenAddresses() {
		out = append(out, a.String())
	}
	return out
}

// Wanted implements pipeline.Output: the stream is wanted while a viewer
// is connected or connecting.
func (s *Server) Wanted() bool { return s.viewers.Load() > 0 }

// WriteAU implements pipeline.Output: it packetizes the access unit once
// (RFC 6184, no allocation) onto the shared track every viewer's sender
// is bound to.
func (s *Server) WriteAU(au *pipeline.AU) {
	if len(au.Data) == 0 {
		return
	}
	if s.t0.IsZero() {
		s.t0 = au.Time
	}
	ts := uint32(au.Time.Sub(s.t0).Microseconds() * 9 / 100) // 90 kHz
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.track == nil {
		return
	}
	if err := s.track.writeAU(s.pk, au, ts); err != nil {
		s.log.Debug("live view: write", "err", err)
	}
	s.frameOut.Add(1)
}

// Cut implements pipeline.Output: called by the pipeline's Cut with the
// gate held closed, it stops the shared track and closes every peer
// connection (which discards the senders' retransmission buffers) before
// returning. Sessions are not resumed: viewers must connect again with a
// new token.
func (s *Server) Cut() {
	s.mu.Lock()
	s.epoch++
	old := s.sessions
	s.sessions = map[string]*session{}
	s.track = nil
	s.viewers.Add(-int32(len(old)))
	s.mu.Unlock()
	if len(old) > 0 {
		s.viewersChanged()
	}

	var wg sync.WaitGroup
	for _, sess := range old {
		wg.Go(func() { sess.close() })
	}
	wg.Wait()
	for _, sess := range old {
		s.finish(sess, "privacy: gate closed")
	}
}

// Close detaches the live view from the pipeline, ends every session and
// closes the UDP port.
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
	s.audits.Close()
	return s.mux.Close()
}

// newID returns a random session id (128 bits, hex).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
