// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent/pipeline"
)

// nextNAL is pipeline.NextNAL (one NAL parser for the node).
func nextNAL(b []byte) (nal, rest []byte) { return pipeline.NextNAL(b) }

// NAL unit types used here.
const (
	nalSPS  = pipeline.NALSPS
	nalAUD  = pipeline.NALAUD
	nalFUA  = 28
	fuStart = 0x80
	fuEnd   = 0x40
)

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
