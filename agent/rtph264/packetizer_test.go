// SPDX-License-Identifier: Apache-2.0

package rtph264

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/camnode/camnode/agent/pipeline"
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

var auCases = []struct {
	name    string
	nals    [][]byte
	packets int
}{
	{"one small slice", [][]byte{TestNAL(1, 100)}, 1},
	{"idr with sps pps", [][]byte{TestNAL(7, 12), TestNAL(8, 4), TestNAL(5, 900)}, 3},
	{"several slices (x264 zerolatency)", [][]byte{TestNAL(1, 700), TestNAL(1, 800), TestNAL(1, 300)}, 3},
	{"fragmented slice", [][]byte{TestNAL(5, 3000)}, 3},
	{"aud dropped", [][]byte{TestNAL(9, 2), TestNAL(1, 50), TestNAL(1, 2500)}, 4},
}

func TestPacketize(t *testing.T) {
	for _, tc := range auCases {
		t.Run(tc.name, func(t *testing.T) {
			au := AnnexB(tc.nals...)
			p := New(1200, 65534)
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
		for nal, rest := pipeline.NextNAL(in); nal != nil; nal, rest = pipeline.NextNAL(rest) {
			if len(nal) == 0 {
				t.Fatalf("%x: empty NAL returned", in)
			}
		}
	}
}

func FuzzPacketize(f *testing.F) {
	for _, tc := range auCases {
		f.Add(AnnexB(tc.nals...))
	}
	f.Fuzz(func(t *testing.T, au []byte) {
		p := New(200, 0)
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
	au := AnnexB(TestNAL(7, 12), TestNAL(8, 4), TestNAL(5, 20000), TestNAL(1, 700))
	p := New(1200, 0)
	if a := testing.AllocsPerRun(100, func() { _, _ = p.Packetize(au, 0, discard{}) }); a != 0 {
		t.Fatalf("%v allocations per access unit, want 0", a)
	}
}
