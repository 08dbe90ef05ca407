// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"bytes"
	"testing"
)

// hostBulk reassembles frames from bulk transfers the way uvcvideo's
// uvc_video_decode_bulk does: a payload ends with a transfer shorter than
// the URB or when it reaches maxPayload; its first transfer starts with the
// header; a frame ends with EOF (or a FID toggle).
type hostBulk struct {
	maxPayload, urbLen int

	payloadSize int
	inPayload   bool
	hdr         byte
	cur         []byte
	frames      [][]byte
	fids        []byte
}

func (h *hostBulk) transfer(t *testing.T, b []byte) {
	t.Helper()
	if len(b) > h.urbLen {
		t.Fatalf("%d bytes in a %d-byte URB", len(b), h.urbLen)
	}
	data := b
	if !h.inPayload {
		if len(b) == 0 {
			return // a zero-length transfer between payloads
		}
		if len(b) < 2 || b[0] != hdrLen || b[1]&hdrEOH == 0 {
			t.Fatalf("payload does not start with a header: % x", b[:min(len(b), 4)])
		}
		h.hdr, data, h.inPayload = b[1], b[2:], true
		if len(h.fids) > 0 && len(h.cur) > 0 && h.hdr&hdrFID != h.fids[len(h.fids)-1] {
			t.Fatalf("FID changed inside a frame")
		}
		if len(h.cur) == 0 {
			h.fids = append(h.fids, h.hdr&hdrFID)
		}
	}
	h.cur = append(h.cur, data...)
	h.payloadSize += len(b)
	if h.payloadSize > h.maxPayload {
		t.Fatalf("payload of %d bytes, max %d", h.payloadSize, h.maxPayload)
	}
	if len(b) < h.urbLen || h.payloadSize >= h.maxPayload {
		h.inPayload, h.payloadSize = false, 0
		if h.hdr&hdrEOF != 0 {
			h.frames = append(h.frames, h.cur)
			h.cur = nil
		}
	}
}

func TestPayloader(t *testing.T) {
	frame := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	for _, tc := range []struct {
		name               string
		maxPayload, urbLen int
		sizes              []int
	}{
		{"URB is one payload", 16384, 16384, []int{614400, 100, 16382, 16383, 1}},
		{"payload spans URBs", 4096, 512, []int{10000, 4094, 4095, 510, 511, 512}},
		{"payload ends on a URB boundary: ZLP", 2048, 512, []int{510, 1022, 2046, 3000}},
		{"URB larger than the payload", 1000, 16384, []int{5000, 998}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPayloader(tc.maxPayload)
			h := &hostBulk{maxPayload: tc.maxPayload, urbLen: tc.urbLen}
			var sent [][]byte
			var buf []byte
			for i, n := range tc.sizes {
				f := frame(n, byte(i))
				sent = append(sent, f)
				p.load(f)
				for done := false; !done; {
					var out []byte
					out, done = p.next(buf, tc.urbLen)
					h.transfer(t, out)
					buf = out
				}
			}
			for p.pending() { // a trailing zero-length transfer
				out, _ := p.next(buf, tc.urbLen)
				h.transfer(t, out)
			}
			if len(h.frames) != len(sent) {
				t.Fatalf("host got %d frames, sent %d", len(h.frames), len(sent))
			}
			for i := range sent {
				if !bytes.Equal(h.frames[i], sent[i]) {
					t.Errorf("frame %d: %d bytes back, %d sent", i, len(h.frames[i]), len(sent[i]))
				}
				if i > 0 && h.fids[i] == h.fids[i-1] {
					t.Errorf("frame %d: FID did not toggle", i)
				}
			}
		})
	}
}
