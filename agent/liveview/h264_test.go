// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

type rtpSink struct{ pkts []rtp.Packet }

func (r *rtpSink) WriteRTP(p *rtp.Packet) error {
	c := *p
	c.Payload = append([]byte(nil), p.Payload...)
	r.pkts = append(r.pkts, c)
	return nil
}

type discard struct{}

func (discard) WriteRTP(*rtp.Packet) error { return nil }

func nalOf(typ byte, n int) []byte {
	b := make([]byte, n)
	b[0] = 0x60 | typ
	for i := 1; i < n; i++ {
		b[i] = byte(i%250 + 2) // no zero bytes: no emulated start codes
	}
	return b
}

func annexB(nals ...[]byte) []byte {
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

var auCases = []struct {
	name    string
	nals    [][]byte
	packets int
}{
	{"one small slice", [][]byte{nalOf(1, 100)}, 1},
	{"idr with sps pps", [][]byte{nalOf(7, 12), nalOf(8, 4), nalOf(5, 900)}, 3},
	{"several slices (x264 zerolatency)", [][]byte{nalOf(1, 700), nalOf(1, 800), nalOf(1, 300)}, 3},
	{"fragmented slice", [][]byte{nalOf(5, 3000)}, 3},
	{"aud dropped", [][]byte{nalOf(9, 2), nalOf(1, 50), nalOf(1, 2500)}, 4},
}

func TestPacketize(t *testing.T) {
	for _, tc := range auCases {
		t.Run(tc.name, func(t *testing.T) {
			au := annexB(tc.nals...)
			p := newPacketizer(1200, 65534)
			var sink rtpSink
			n, err := p.Packetize(au, 1234, &sink)
			if err != nil || n != tc.packets || len(sink.pkts) != tc.packets {
				t.Fatalf("packetize: n=%d err=%v, got %d packets; want %d", n, err, len(sink.pkts), tc.packets)
			}
			var d codecs.H264Packet
			var got []byte
			for i, pk := range sink.pkts {
				if pk.Marker != (i == len(sink.pkts)-1) {
					t.Errorf("packet %d: marker %v", i, pk.Marker)
				}
				if pk.Timestamp != 1234 || pk.SequenceNumber != uint16(65534+i) {
					t.Errorf("packet %d: ts %d seq %d", i, pk.Timestamp, pk.SequenceNumber)
				}
				if len(pk.Payload) > 1200 {
					t.Errorf("packet %d: %d bytes", i, len(pk.Payload))
				}
				out, err := d.Unmarshal(pk.Payload)
				if err != nil {
					t.Fatalf("depacketize %d: %v", i, err)
				}
				got = append(got, out...)
			}
			var want []byte
			for _, n := range tc.nals {
				if n[0]&0x1f != nalAUD {
					want = append(want, 0, 0, 0, 1)
					want = append(want, n...)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round trip differs: got %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func TestNextNAL(t *testing.T) {
	for _, in := range [][]byte{nil, {0}, {0, 0, 1}, {0, 0, 0, 1}, {0, 0, 1, 0, 0, 1}, {1, 2, 3}, {0, 0, 1, 0x65, 0, 0}} {
		for nal, rest := nextNAL(in); nal != nil; nal, rest = nextNAL(rest) {
			if len(nal) == 0 {
				t.Fatalf("%x: empty NAL returned", in)
			}
		}
	}
}

func FuzzPacketize(f *testing.F) {
	for _, tc := range auCases {
		f.Add(annexB(tc.nals...))
	}
	f.Fuzz(func(t *testing.T, au []byte) {
		p := newPacketizer(200, 0)
		var sink rtpSink
		if _, err := p.Packetize(au, 0, &sink); err != nil {
			t.Fatal(err)
		}
		for _, pk := range sink.pkts {
			if len(pk.Payload) > 200 || len(pk.Payload) == 0 {
				t.Fatalf("payload %d bytes", len(pk.Payload))
			}
		}
	})
}

func TestPacketizeAllocs(t *testing.T) {
	au := annexB(nalOf(7, 12), nalOf(8, 4), nalOf(5, 20000), nalOf(1, 700))
	p := newPacketizer(1200, 0)
	if a := testing.AllocsPerRun(100, func() { _, _ = p.Packetize(au, 0, discard{}) }); a != 0 {
		t.Fatalf("%v allocations per access unit, want 0", a)
	}
}
