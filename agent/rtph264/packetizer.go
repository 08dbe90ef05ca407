// SPDX-License-Identifier: Apache-2.0

// Package rtph264 turns the pipeline's H.264 access units into RTP packets
// (RFC 6184, packetization-mode 1) without allocating. It is the one
// packetizer of the node: the live view (WebRTC) and the recorder stream
// (RTSP) both use it.
package rtph264

import (
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent/pipeline"
)

// NAL unit types used here.
const (
	nalAUD  = pipeline.NALAUD
	nalFUA  = 28
	fuStart = 0x80
	fuEnd   = 0x40
)

// Writer is where packets go (a shared *webrtc.TrackLocalStaticRTP, an
// RTSP stream). The packet and its payload are reused after WriteRTP
// returns.
type Writer interface {
	WriteRTP(*rtp.Packet) error
}

// Packetizer turns H.264 access units into RTP packets (RFC 6184,
// packetization-mode 1: single NAL unit packets and FU-A) without
// allocating: it reuses one packet and one fragment buffer. The marker bit
// is set on the last packet of each access unit, however many slices it
// carries.
type Packetizer struct {
	mtu  int // maximum RTP payload size
	seq  uint16
	pkt  rtp.Packet
	frag []byte
}

// New returns a packetizer whose payloads are at most mtu bytes, starting
// at sequence number seq.
func New(mtu int, seq uint16) *Packetizer {
	return &Packetizer{mtu: mtu, seq: seq, frag: make([]byte, mtu),
		pkt: rtp.Packet{Header: rtp.Header{Version: 2}}}
}

// SetPayloadType sets the payload type of every packet written from now on.
func (p *Packetizer) SetPayloadType(pt uint8) { p.pkt.PayloadType = pt }

// SetSSRC sets the SSRC of every packet written from now on.
func (p *Packetizer) SetSSRC(ssrc uint32) { p.pkt.SSRC = ssrc }

// Packetize writes au (Annex-B) with RTP timestamp ts to w and returns the
// number of packets written. AUD NAL units are dropped.
func (p *Packetizer) Packetize(au []byte, ts uint32, w Writer) (int, error) {
	n := 0
	nal, rest := pipeline.NextNAL(au)
	for nal != nil && nal[0]&0x1f == nalAUD {
		nal, rest = pipeline.NextNAL(rest)
	}
	for nal != nil {
		next, after := pipeline.NextNAL(rest)
		for next != nil && next[0]&0x1f == nalAUD {
			next, after = pipeline.NextNAL(after)
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

func (p *Packetizer) emit(payload []byte, ts uint32, marker bool, w Writer) error {
	p.pkt.SequenceNumber = p.seq
	p.seq++
	p.pkt.Timestamp = ts
	p.pkt.Marker = marker
	p.pkt.Payload = payload
	return w.WriteRTP(&p.pkt)
}

// TestNAL returns an n-byte NAL unit of type typ with no emulated start
// code, for tests and benchmarks.
func TestNAL(typ byte, n int) []byte {
	b := make([]byte, n)
	b[0] = 0x60 | typ
	for i := 1; i < n; i++ {
		b[i] = byte(i%250 + 2)
	}
	return b
}

// AnnexB joins NAL units with start codes (alternately 4 and 3 bytes),
// for tests and benchmarks.
func AnnexB(nals ...[]byte) []byte {
	var out []byte
	for i, n := range nals {
		if i%2 == 0 {
			out = append(out, 0, 0, 0, 1)
		} else {
			out = append(out, 0, 0, 1)
		}
		out = append(out, n...)
	}
	return out
}
