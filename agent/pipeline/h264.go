// SPDX-License-Identifier: Apache-2.0

package pipeline

// NextNAL returns the first NAL unit of the Annex-B stream b (without its
// start code and without trailing zero bytes) and the rest of the stream,
// starting at the next start code. nal is nil when b holds no further NAL
// unit. Bytes before the first start code are skipped.
func NextNAL(b []byte) (nal, rest []byte) {
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

// H.264 NAL unit types used by the pipeline and its outputs.
const (
	NALIDR = 5
	NALSPS = 7
	NALPPS = 8
	NALAUD = 9
)

// IsKeyAU reports whether the access unit holds an IDR slice.
func IsKeyAU(au []byte) bool {
	for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
		if nal[0]&0x1f == NALIDR {
			return true
		}
	}
	return false
}

// paramSets caches the newest SPS and PPS of an H.264 camera stream, so that
// every IDR an output receives is preceded by them: UVC H.264 cameras often
// send them once, at stream start, and a viewer that joins later could not
// decode anything without them.
type paramSets struct {
	sps, pps []byte // NAL units without start codes; reused buffers
}

func (p *paramSets) reset() { p.sps, p.pps = p.sps[:0], p.pps[:0] }

// ready reports whether both sets are cached.
func (p *paramSets) ready() bool { return len(p.sps) > 0 && len(p.pps) > 0 }

// scan records the SPS and PPS of au and reports whether au holds an IDR
// slice.
func (p *paramSets) scan(au []byte) (idr bool) {
	for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
		switch nal[0] & 0x1f {
		case NALIDR:
			idr = true
		case NALSPS:
			p.sps = append(p.sps[:0], nal...)
		case NALPPS:
			p.pps = append(p.pps[:0], nal...)
		}
	}
	return idr
}

// prepend appends to dst the IDR access unit au with the cached SPS and
// PPS in front (scan of au has brought them up to date) and au's own SPS
// and PPS left out, so that every IDR starts with the sets, in order (a PPS
// refers to its SPS, and both must precede the slices), whatever the
// camera sent. Without cached sets, au is appended as it is.
func (p *paramSets) prepend(dst, au []byte) []byte {
	if !p.ready() {
		return append(dst, au...)
	}
	dst = append(append(dst, 0, 0, 0, 1), p.sps...)
	dst = append(append(dst, 0, 0, 0, 1), p.pps...)
	for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
		if t := nal[0] & 0x1f; t != NALSPS && t != NALPPS {
			dst = append(append(dst, 0, 0, 0, 1), nal...)
		}
	}
	return dst
}
