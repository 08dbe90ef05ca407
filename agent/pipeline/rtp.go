// SPDX-License-Identifier: Apache-2.0

package pipeline

import "github.com/pion/rtp"

// FU-A (RFC 6184) constants of the packetizer.
const (
	nalFUA  = 28
	fuStart = 0x80
	fuEnd   = 0x40
)

// RTPWriter is where a Packetizer's packets go (the live view's shared
// track; the push publisher's send queue). The packet and its payload are
// only valid during the call.
type RTPWriter interface {
	WriteRTP(*rtp.Packet) error
}

// Packetizer turns H.264 access units into RTP packets (RFC 6184,
// packetization-mode 1: single NAL unit packets and FU-A) without
// allocating: it reuses one packet and one fragment buffer. The marker bit
// is set on the last packet of each access unit, however many slices it
// carries. It is the one H.264 packetizer of every output.
type Packetizer struct {
	mtu  int // maximum RTP payload size
	seq  uint16
	pkt  rtp.Packet
	frag []byte
}

// NewPacketizer returns a packetizer of RTP payloads of at most mtu bytes
// whose first packet has sequence number seq.
func NewPacketizer(mtu int, seq uint16) *Packetizer {
	return &Packetizer{mtu: mtu, seq: seq, frag: make([]byte, mtu),
		pkt: rtp.Packet{Header: rtp.Header{Version: 2}}}
}

// Seq returns the sequence number of the next packet.
func (p *Packetizer) Seq() uint16 { return p.seq }

// Packetize writes au (Annex-B) with RTP timestamp ts to w and returns the
// number of packets written. AUD NAL units are dropped.
func (p *Packetizer) Packetize(au []byte, ts uint32, w RTPWriter) (int, error) {
	n := 0
	nal, rest := NextNAL(au)
	for nal != nil && nal[0]&0x1f == NALAUD {
		nal, rest = NextNAL(rest)
	}
	for nal != nil {
		next, after := NextNAL(rest)
		for next != nil && next[0]&0x1f == NALAUD {
			next, after = NextNAL(after)
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

func (p *Packetizer) emit(payload []byte, ts uint32, marker bool, w RTPWriter) error {
	p.pkt.SequenceNumber = p.seq
	p.seq++
	p.pkt.Timestamp = ts
	p.pkt.Marker = marker
	p.pkt.Payload = payload
	return w.WriteRTP(&p.pkt)
}
