// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// The NACK responder: keeps a copy of each packet a sender writes in a
// fixed ring and re-sends the packets a viewer's Generic NACKs (RFC 4585)
// ask for. It replaces pion's nack.ResponderInterceptor, which allocates
// twice per packet (a RetainablePacket and its release closure) and starts
// a goroutine per NACK; this one allocates once per stream (the ring, on
// the first packet) and nothing per packet or per NACK.
//
// What can be re-sent is bounded: only packets of this stream's SSRC, at
// most Config.NACKMaxAge old, still in the ring (same sequence number, not
// overwritten), each at most nackMaxResends times and not twice within
// nackResendGap. Unbinding the stream or closing the interceptor (which
// pion does when the peer connection closes, e.g. on Cut) drops the ring
// and waits for a re-send in progress: after that nothing can be re-sent.

const (
	// nackMaxResends bounds how often one packet is re-sent, so that a
	// viewer cannot make the node send more than (1+nackMaxResends) times
	// the media it sends anyway.
	nackMaxResends = 3
	// nackResendGap: a packet is not re-sent again sooner than this
	// (duplicate NACKs for the same loss).
	nackResendGap = 10 * time.Millisecond
	// rtpHeaderRoom is the room for the RTP header in a ring slot: the
	// fixed 12 bytes plus CSRCs and extensions.
	rtpHeaderRoom = 64
)

// nackResponderFactory builds one nackResponder per peer connection.
type nackResponderFactory struct {
	slots    int // ring size in packets, a power of two
	slotSize int // bytes per slot: RTP header and payload
	maxAge   time.Duration
	now      func() time.Time
}

// newNACKResponder returns the factory of NACK responders with a ring of
// slots packets (a power of two) of at most mtu payload bytes each, that
// re-send no packet older than maxAge.
func newNACKResponder(slots, mtu int, maxAge time.Duration) *nackResponderFactory {
	if slots <= 0 || slots&(slots-1) != 0 || slots > 1<<15 {
		panic("liveview: NACK ring size must be a power of two up to 32768")
	}
	return &nackResponderFactory{slots: slots, slotSize: mtu + rtpHeaderRoom, maxAge: maxAge, now: time.Now}
}

func (f *nackResponderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackResponder{f: f, streams: map[uint32]*nackStream{}}, nil
}

// nackResponder is the interceptor of one peer connection.
type nackResponder struct {
	interceptor.NoOp
	f       *nackResponderFactory
	mu      sync.RWMutex
	streams map[uint32]*nackStream // by media SSRC
	closed  bool
}

// nackStream is the ring of one local stream (one sender's SSRC).
type nackStream struct {
	ssrc uint32
	next interceptor.RTPWriter
	f    *nackResponderFactory

	// resendMu serialises re-sends (hdr, scratch) and lets drop wait for
	// one in progress. Lock order: resendMu, then mu.
	resendMu sync.Mutex
	hdr      rtp.Header
	scratch  []byte

	mu     sync.Mutex // guards slab, meta, closed
	slab   []byte     // slots*slotSize, allocated on the first packet
	meta   []nackSlot
	closed bool
}

type nackSlot struct {
	at      time.Time // when it was sent
	last    time.Time // when it was last re-sent
	n       int       // bytes of header and payload; 0: empty
	seq     uint16
	resends uint8
}

// supportsNACK: the stream negotiated generic NACK feedback.
func supportsNACK(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// BindLocalStream keeps a copy of every packet of the stream's SSRC.
func (r *nackResponder) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !supportsNACK(info) {
		return w
	}
	st := &nackStream{ssrc: info.SSRC, next: w, f: r.f}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return w
	}
	old := r.streams[info.SSRC]
	r.streams[info.SSRC] = st
	r.mu.Unlock()
	if old != nil {
		old.drop()
	}
	return st
}

// UnbindLocalStream drops the stream's ring.
func (r *nackResponder) UnbindLocalStream(info *interceptor.StreamInfo) {
	r.mu.Lock()
	st := r.streams[info.SSRC]
	delete(r.streams, info.SSRC)
	r.mu.Unlock()
	if st != nil {
		st.drop()
	}
}

// Close drops every ring; nothing is re-sent afterwards.
func (r *nackResponder) Close() error {
	r.mu.Lock()
	r.closed = true
	streams := r.streams
	r.streams = map[uint32]*nackStream{}
	r.mu.Unlock()
	for _, st := range streams {
		st.drop()
	}
	return nil
}

// BindRTCPReader passes every RTCP batch on unchanged and re-sends the
// packets its Generic NACKs ask for.
func (r *nackResponder) BindRTCPReader(rd interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := rd.Read(b, a)
		if err == nil && n > 0 && n <= len(b) {
			r.handleRTCP(b[:n])
		}
		return n, attr, err
	})
}

// handleRTCP re-sends what the Generic NACKs in the RTCP (compound) packet
// b ask for, and returns the number of packets re-sent.
func (r *nackResponder) handleRTCP(b []byte) int {
	it := nackIter{rest: b}
	var st *nackStream
	var stSSRC uint32
	sent := 0
	for {
		ssrc, pid, blp, ok := it.next()
		if !ok {
			return sent
		}
		if st == nil || ssrc != stSSRC {
			r.mu.RLock()
			st = r.streams[ssrc]
			r.mu.RUnlock()
			stSSRC = ssrc
		}
		if st == nil {
			continue
		}
		now := r.f.now()
		if st.resend(pid, now) {
			sent++
		}
		for i := range uint16(16) {
			if blp&(1<<i) != 0 && st.resend(pid+i+1, now) {
				sent++
			}
		}
	}
}

// Write stores a copy of the packet (if it is of this stream) and passes
// it on.
func (st *nackStream) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	if h.SSRC == st.ssrc {
		st.store(h, payload)
	}
	return st.next.Write(h, payload, a)
}

func (st *nackStream) store(h *rtp.Header, payload []byte) {
	now := st.f.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	if st.slab == nil {
		st.slab = make([]byte, st.f.slots*st.f.slotSize)
		st.meta = make([]nackSlot, st.f.slots)
	}
	m := &st.meta[int(h.SequenceNumber)&(st.f.slots-1)]
	m.n = 0 // empty unless the copy below succeeds
	hl := h.MarshalSize()
	if h.Padding || hl+len(payload) > st.f.slotSize {
		return // not kept: padding is not carried by Header.MarshalTo; too big
	}
	off := (int(h.SequenceNumber) & (st.f.slots - 1)) * st.f.slotSize
	buf := st.slab[off : off+st.f.slotSize]
	if k, err := h.MarshalTo(buf); err != nil || k != hl {
		return
	}
	copy(buf[hl:], payload)
	*m = nackSlot{at: now, n: hl + len(payload), seq: h.SequenceNumber}
}

// resend writes the kept copy of packet seq again, if it is still in the
// ring, young enough and not re-sent too often.
func (st *nackStream) resend(seq uint16, now time.Time) bool {
	st.resendMu.Lock()
	defer st.resendMu.Unlock()
	st.mu.Lock()
	if st.closed || st.slab == nil {
		st.mu.Unlock()
		return false
	}
	i := int(seq) & (st.f.slots - 1)
	m := &st.meta[i]
	if m.n == 0 || m.seq != seq || now.Sub(m.at) > st.f.maxAge || m.resends >= nackMaxResends ||
		(m.resends > 0 && now.Sub(m.last) < nackResendGap) {
		st.mu.Unlock()
		return false
	}
	m.resends++
	m.last = now
	if st.scratch == nil {
		st.scratch = make([]byte, st.f.slotSize)
	}
	n := copy(st.scratch, st.slab[i*st.f.slotSize:i*st.f.slotSize+m.n])
	st.mu.Unlock()
	// The write happens outside mu (the sender keeps writing) but under
	// resendMu, so drop waits for it.
	hl, err := st.hdr.Unmarshal(st.scratch[:n])
	if err != nil {
		return false
	}
	_, err = st.next.Write(&st.hdr, st.scratch[hl:n], nil)
	return err == nil
}

// drop discards the ring, after any re-send in progress; later packets
// are passed on without being kept.
func (st *nackStream) drop() {
	st.resendMu.Lock()
	defer st.resendMu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	st.slab, st.meta, st.scratch = nil, nil, nil
}

// RTCP Generic NACK (RFC 4585 6.2.1): transport-layer feedback (PT 205),
// FMT 1; after the common header the packet sender's and the media
// source's SSRC, then FCIs of PID (16 bits) and BLP (16 bits).
const (
	rtcpRTPFB      = 205
	rtcpFmtNACK    = 1
	rtcpFBHeadSize = 12
)

// nackIter walks the Generic NACK FCIs of an RTCP compound packet without
// allocating. Other packets are skipped; it stops at the first packet
// whose header is malformed (version, length past the end).
type nackIter struct {
	rest []byte // packets not yet looked at
	fci  []byte // FCIs of the current NACK packet not yet returned
	ssrc uint32 // media SSRC of the current NACK packet
}

// next returns the next FCI: the media SSRC, the first lost sequence
// number (PID) and the bitmask of the following 16 (BLP).
func (it *nackIter) next() (ssrc uint32, pid, blp uint16, ok bool) {
	for len(it.fci) < 4 {
		if !it.nextPacket() {
			return 0, 0, 0, false
		}
	}
	pid = binary.BigEndian.Uint16(it.fci)
	blp = binary.BigEndian.Uint16(it.fci[2:])
	it.fci = it.fci[4:]
	return it.ssrc, pid, blp, true
}

// nextPacket moves to the next Generic NACK packet.
func (it *nackIter) nextPacket() bool {
	for len(it.rest) >= 4 {
		b := it.rest
		if b[0]>>6 != 2 {
			it.rest = nil
			return false
		}
		size := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if size > len(b) {
			it.rest = nil
			return false
		}
		p := b[:size]
		it.rest = b[size:]
		if p[1] != rtcpRTPFB || p[0]&0x1f != rtcpFmtNACK || size < rtcpFBHeadSize {
			continue
		}
		fci := p[rtcpFBHeadSize:]
		if p[0]&0x20 != 0 { // padding: the last byte counts it
			pad := int(p[size-1])
			if pad == 0 || pad > len(fci) {
				continue
			}
			fci = fci[:len(fci)-pad]
		}
		it.ssrc = binary.BigEndian.Uint32(p[8:])
		it.fci = fci[:len(fci)&^3]
		return true
	}
	it.rest = nil
	return false
}
