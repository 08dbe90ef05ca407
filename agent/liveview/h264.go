// SPDX-License-Identifier: Apache-2.0

package liveview

import "github.com/pion/rtp"

// nextNAL returns the first NAL unit of the Annex-B stream b (without its
// start code and without trailing zero bytes) and the rest of the stream,
// starting at the next start code. nal is nil when b holds no further NAL
// unit. Bytes before the first start code are skipped.
func nextNAL(b []byte) (nal, rest []byte) {
	start := startCode(b, 0)
	if start < 0 {
		return nil, nil
	}
	for {
		i := start
		// skip the start code itself
		for i < len(b) && b[i] == 0 {
			i++
		}
		if i >= len(b) { // start code at the very end: nothing follows
			return nil, nil
		}
		i++ // the 0x01
		end := startCode(b, i)
		if end < 0 {
			end = len(b)
		}
		nal = b[i:end]
		for len(nal) > 0 && nal[len(nal)-1] == 0 {
			nal = nal[:len(nal)-1]
		}
		if len(nal) == 0 { // empty NAL (two start codes in a row)
			if end == len(b) {
				return nil, nil
			}
			start = end
			continue
		}
		return nal, b[end:]
	}
}

// startCode returns the index of the first zero byte of the first
// 00 00 01 start code at or after from, or -1.
func startCode(b []byte, from int) int {
	for i := from; i+2 < len(b); i++ {
		if b[i+2] > 1 { // fast skip: cannot be inside a start code
			i += 2
			continue
		}
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			return i
		}
	}
	return -1
}

// NAL unit types used here.
const (
	nalIDR  = 5
	nalSPS  = 7
	nalPPS  = 8
	nalAUD  = 9
	nalFUA  = 28
	fuStart = 0x80
	fuEnd   = 0x40
)

// isKeyAU reports whether the access unit holds an IDR slice.
func isKeyAU(au []byte) bool {
	for nal, rest := nextNAL(au); nal != nil; nal, rest = nextNAL(rest) {
		if nal[0]&0x1f == nalIDR {
			return true
		}
	}
	return false
}

// rtpWriter is where packets go (a shared *webrtc.TrackLocalStaticRTP).
type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
}

// packetizer turns H.264 access units into RTP packets (RFC 6184,
// packetization-mode 1: single NAL unit packets and FU-A) without
// allocating: it reuses one packet and one fragment buffer. The marker bit
// is set on the last packet of each access unit, however many slices it
// carries.
type packetizer struct {
	mtu  int // maximum RTP payload size
	seq  uint16
	pkt  rtp.Packet
	frag []byte
}

func newPacketizer(mtu int, seq uint16) *packetizer {
	return &packetizer{mtu: mtu, seq: seq, frag: make([]byte, mtu),
		pkt: rtp.Packet{Header: rtp.Header{Version: 2}}}
}

// packetize writes au (Annex-B) with RTP timestamp ts to w and returns the
// number of packets written. AUD NAL units are dropped.
func (p *packetizer) packetize(au []byte, ts uint32, w rtpWriter) (int, error) {
	n := 0
	nal, rest := nextNAL(au)
	for nal != nil && nal[0]&0x1f == nalAUD {
		nal, rest = nextNAL(rest)
	}
	for nal != nil {
		next, after := nextNAL(rest)
		for next != nil && next[0]&0x1f == nalAUD {
			next, after = nextNAL(after)
		}
		last := next == nil
		if len(nal) <= p.mtu {
			if err := p.emit(nal, ts, last, w); err != nil {
				return n, err
			}
			n++
		} else {
			ind := nal[0]&0xe0 | nalFUA
			typ := nal[0] & 0x1f
			data := nal[1:]
			room := p.mtu - 2
			for first := true; len(data) > 0; first = false {
				k := min(room, len(data))
				hdr := typ
				if first {
					hdr |= fuStart
				}
				if k == len(data) {
					hdr |= fuEnd
				}
				p.frag[0], p.frag[1] = ind, hdr
				m := copy(p.frag[2:], data[:k])
				data = data[k:]
				if err := p.emit(p.frag[:2+m], ts, last && len(data) == 0, w); err != nil {
					return n, err
				}
				n++
			}
		}
		nal, rest = next, after
	}
	return n, nil
}

func (p *packetizer) emit(payload []byte, ts uint32, marker bool, w rtpWriter) error {
	p.pkt.SequenceNumber = p.seq
	p.seq++
	p.pkt.Timestamp = ts
	p.pkt.Marker = marker
	p.pkt.Payload = payload
	return w.WriteRTP(&p.pkt)
}
