// SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// RecordedH264 is testdata/h264/320x240-gop15.h264: a real encoder's
// stream (libx264, constrained baseline, two slices per picture, an IDR
// every 15 frames, stamps 0..44; see testdata/h264/README.md).
const recordedH264 = "320x240-gop15.h264"

// recordedAUs returns the access units of the recorded stream.
func recordedAUs(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "h264", recordedH264))
	if err != nil {
		t.Fatal(err)
	}
	var aus [][]byte
	for au, rest := NextAU(b); au != nil; au, rest = NextAU(rest) {
		aus = append(aus, au)
	}
	return aus
}

// recordedNALs returns the recorded stream's SPS and PPS, the first slice
// of its first IDR and the first slice of its first P picture.
func recordedNALs(t testing.TB) (sps, pps, idr, p []byte) {
	t.Helper()
	aus := recordedAUs(t)
	for _, au := range aus[:2] {
		for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
			switch t := nal[0] & 0x1f; {
			case t == NALSPS && sps == nil:
				sps = nal
			case t == NALPPS && pps == nil:
				pps = nal
			case t == NALIDR && idr == nil:
				idr = nal
			case t == 1 && p == nil:
				p = nal
			}
		}
	}
	if sps == nil || pps == nil || idr == nil || p == nil {
		t.Fatal("the recording lacks an SPS, PPS, IDR or P slice")
	}
	return sps, pps, idr, p
}

func TestRecordedStream(t *testing.T) {
	aus := recordedAUs(t)
	if len(aus) != 45 {
		t.Fatalf("%d access units, want 45", len(aus))
	}
	var c AUChecker
	for i, au := range aus {
		out, dropped, ok := c.Check(au)
		if !ok || dropped != 0 || !bytes.Equal(out, au) {
			t.Fatalf("access unit %d: ok %v, dropped %d", i, ok, dropped)
		}
		if key := IsKeyAU(au); key != (i%15 == 0) {
			t.Errorf("access unit %d: key %v", i, key)
		}
		slices := 0
		for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
			if t := nal[0] & 0x1f; t == 1 || t == 5 {
				slices++
			}
		}
		if slices != 2 {
			t.Errorf("access unit %d has %d slices, want 2", i, slices)
		}
	}
}

// auCase is one access unit for the checker: primed runs it after the
// recording's first access unit (its SPS and PPS known).
type auCase struct {
	name        string
	primed      bool
	au          []byte
	wantDropped int
	wantOK      bool
	want        []byte // nil: the input itself when nothing is dropped
}

func auCases(t testing.TB) []auCase {
	aus := recordedAUs(t)
	sps, pps, idr, p := recordedNALs(t)
	pAU := aus[1]
	cut := func(n []byte, k int) []byte { return bytes.Clone(n[:k]) }
	flip := func(n []byte) []byte { n = bytes.Clone(n); n[0] |= 0x80; return n }
	escape := bytes.Clone(p)
	escape = append(escape[:8:8], 0, 0, 3, 9, 1) // 00 00 03 must be followed by 00..03
	zeros := append(bytes.Clone(p[:6]), 0, 0, 0, 7, 1)
	return []auCase{
		{"first IDR with its sets", false, aus[0], 0, true, nil},
		{"P", true, pAU, 0, true, nil},
		{"sets only", false, annexB(sps, pps), 0, true, nil},
		{"AUD then P", true, append(annexB([]byte{0x09, 0xf0}), pAU...), 0, true, nil},
		{"empty", true, nil, 0, false, nil},
		{"noise, no start code", true, []byte("not an access unit at all"), 1, false, nil},
		{"start codes only", true, []byte{0, 0, 1, 0, 0, 0, 1}, 1, false, nil},
		{"garbage before the start code", true, append([]byte{0xde, 0xad}, annexB(p)...), 1, true, annexB(p)},
		{"zero padding before the start code", true, append([]byte{0, 0}, annexB(p)...), 0, true, nil},
		{"slice truncated in its header", true, annexB(cut(p, 2)), 1, false, nil},
		{"IDR slice truncated in its header", true, annexB(sps, pps, cut(idr, 2)), 1, false, nil},
		{"forbidden bit", true, annexB(flip(p)), 1, false, nil},
		{"bad escape in a slice", true, annexB(escape), 1, false, nil},
		{"00 00 00 inside a slice", true, annexB(zeros), 1, false, nil},
		{"unspecified NAL type 0 before P", true, annexB([]byte{0x00, 1, 2}, p), 1, true, annexB(p)},
		{"unspecified type 30 after P", true, annexB(p, []byte{0x1e, 5}), 1, true, annexB(p)},
		{"SVC extension dropped", true, annexB([]byte{0x14, 0x80, 1}, p), 1, true, annexB(p)},
		{"SEI with a reference idc", true, annexB([]byte{0x66, 5, 1, 0, 0x80}, p), 1, true, annexB(p)},
		{"truncated SPS", false, annexB(cut(sps, 4), pps, idr), 2, true, annexB(idr)},
		{"PPS naming an unknown SPS", false, annexB(pps, idr), 1, true, annexB(idr)},
		{"IDR with nal_ref_idc 0", true, annexB(append([]byte{0x05}, idr[1:]...)), 1, false, nil},
		{"data partition", true, annexB([]byte{0x62, 0x80, 1}), 1, false, nil},
		{"bad AUD", true, annexB([]byte{0x09, 0xf1}, p), 1, true, annexB(p)},
		{"garbage only, no slice", true, annexB([]byte{0x1f, 1}, []byte{0x00, 5}), 2, false, nil},
	}
}

func (c auCase) run(t *testing.T) {
	t.Helper()
	var chk AUChecker
	if c.primed {
		if _, _, ok := chk.Check(recordedAUs(t)[0]); !ok {
			t.Fatal("the recording's first access unit did not pass")
		}
	}
	out, dropped, ok := chk.Check(c.au)
	if dropped != c.wantDropped || ok != c.wantOK {
		t.Fatalf("dropped %d ok %v, want %d %v", dropped, ok, c.wantDropped, c.wantOK)
	}
	want := c.want
	if want == nil && ok && dropped == 0 {
		want = c.au
	}
	if ok && !bytes.Equal(out, want) {
		t.Fatalf("out %x, want %x", out, want)
	}
}

func TestAUChecker(t *testing.T) {
	for _, c := range auCases(t) {
		t.Run(c.name, c.run)
	}
}

// FuzzAUChecker: whatever a camera sends, Check never panics, keeps only
// whole NAL units of its input, and what it keeps passes again unchanged.
func FuzzAUChecker(f *testing.F) {
	for _, c := range auCases(f) {
		f.Add(c.au, c.primed)
	}
	for _, au := range recordedAUs(f) {
		f.Add(au, true)
	}
	first := recordedAUs(f)[0]
	f.Fuzz(func(t *testing.T, au []byte, primed bool) {
		var c AUChecker
		if primed {
			c.Check(first)
		}
		before := c
		before.buf = nil
		out, dropped, ok := c.Check(au)
		if !ok {
			return
		}
		if dropped == 0 && !bytes.Equal(out, au) {
			t.Fatal("nothing dropped but the output differs")
		}
		if dropped > 0 {
			for nal, rest := NextNAL(out); nal != nil; nal, rest = NextNAL(rest) {
				if !bytes.Contains(au, nal) {
					t.Fatalf("output NAL %x is not in the input", nal)
				}
			}
		}
		again, d2, ok2 := before.Check(out)
		if !ok2 || d2 != 0 || !bytes.Equal(again, out) {
			t.Fatalf("the output does not pass again: dropped %d ok %v", d2, ok2)
		}
	})
}

func TestNextAU(t *testing.T) {
	aus := recordedAUs(t)
	var joined []byte
	for _, au := range aus {
		joined = append(joined, au...)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "h264", recordedH264))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(joined, b) {
		t.Fatal("the access units do not add up to the stream")
	}
	if au, rest := NextAU(nil); au != nil || rest != nil {
		t.Fatal("NextAU(nil) returned something")
	}
}
