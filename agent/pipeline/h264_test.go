// SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"bytes"
	"testing"
)

// paramCases are camera access units: whether each holds an IDR, and what
// an output gets for it after the earlier cases of the table were seen.
var paramCases = []struct {
	name string
	au   []byte
	idr  bool
	sent []byte // after prepend; nil: au unchanged
}{
	{"SPS PPS IDR", annexB([]byte{0x67, 1, 2}, []byte{0x68, 3}, []byte{0x65, 4}), true, nil},
	{"P", annexB([]byte{0x41, 5}), false, nil},
	{"IDR alone", annexB([]byte{0x65, 6}), true, annexB([]byte{0x67, 1, 2}, []byte{0x68, 3}, []byte{0x65, 6})},
	// A PPS refers to its SPS: the sets go first, in order.
	{"new SPS, IDR", annexB([]byte{0x67, 9}, []byte{0x65, 7}), true, annexB([]byte{0x67, 9}, []byte{0x68, 3}, []byte{0x65, 7})},
	{"3-byte start codes", []byte{0, 0, 1, 0x65, 8, 0, 0, 1, 0x41, 9}, true, annexB([]byte{0x67, 9}, []byte{0x68, 3}, []byte{0x65, 8}, []byte{0x41, 9})},
	{"sets after the slice", annexB([]byte{0x67, 9}, []byte{0x65, 7}, []byte{0x68, 4}), true, annexB([]byte{0x67, 9}, []byte{0x68, 4}, []byte{0x65, 7})},
	{"garbage", []byte{1, 2, 3, 0, 0}, false, nil},
	{"empty", nil, false, nil},
	{"truncated start code", []byte{0, 0, 1}, false, nil},
}

func TestParamSets(t *testing.T) {
	var ps paramSets
	for _, c := range paramCases {
		idr := ps.scan(c.au)
		if idr != c.idr {
			t.Errorf("%s: idr %v, want %v", c.name, idr, c.idr)
		}
		if !idr {
			continue
		}
		got := ps.prepend(nil, c.au)
		want := c.sent
		if want == nil {
			want = c.au
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: sent %x, want %x", c.name, got, want)
		}
	}
}

// FuzzParamSets: any bytes from a camera are scanned and prefixed without
// a panic, and an IDR is always sent with an SPS and a PPS once the
// camera sent them.
func FuzzParamSets(f *testing.F) {
	for _, c := range paramCases {
		f.Add(c.au)
	}
	f.Fuzz(func(t *testing.T, au []byte) {
		ps := paramSets{sps: []byte{0x67, 1}, pps: []byte{0x68, 2}}
		idr := ps.scan(au)
		out := ps.prepend(nil, au)
		if !idr {
			return
		}
		// The first NAL units are an SPS, then a PPS.
		var types []byte
		for nal, rest := NextNAL(out); nal != nil && len(types) < 2; nal, rest = NextNAL(rest) {
			types = append(types, nal[0]&0x1f)
		}
		if len(types) < 2 || types[0] != NALSPS || types[1] != NALPPS {
			t.Fatalf("IDR %x sent as %x: NAL types %v first, want SPS, PPS", au, out, types)
		}
	})
}
