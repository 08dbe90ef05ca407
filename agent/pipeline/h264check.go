// SPDX-License-Identifier: Apache-2.0

package pipeline

// H.264 access-unit checking for passthrough. A webcam's encoder, the USB
// link and the driver can all hand over broken access units: a buffer cut
// short, bytes from another frame, noise. Passed through, they make a
// viewer's decoder show garbage until the next IDR, or fail outright.
// AUChecker looks at what can be checked without decoding pictures (the
// NAL unit syntax, the parameter sets and every slice header, against the
// parameter sets they name) and leaves out what is broken. It cannot see
// damage inside slice data past the header: that is for the camera's own
// error flag (V4L2_BUF_FLAG_ERROR, which capture drops) and the decoder.

// AUChecker checks the access units of one H.264 camera stream. It keeps
// the parameter sets seen so far, so that slice headers can be checked
// against them. The zero value is ready; it allocates only to grow its
// output buffer.
type AUChecker struct {
	sps [32]spsInfo
	pps [256]ppsInfo
	buf []byte
}

type spsInfo struct {
	valid                     bool
	sepColourPlane            bool
	frameMBsOnly              bool
	deltaPicOrderAlwaysZero   bool
	log2MaxFrameNum           int
	pocType                   int
	log2MaxPOCLsb             int
	picSizeInMBs              uint32
	widthInMBs, heightInUnits uint32
}

type ppsInfo struct {
	valid           bool
	spsID           uint8
	bottomFieldPOC  bool
	redundantPicCnt bool
}

// Reset forgets the parameter sets (a new stream).
func (c *AUChecker) Reset() {
	c.sps = [32]spsInfo{}
	c.pps = [256]ppsInfo{}
}

// Check checks one access unit (Annex-B). out is au itself when every NAL
// unit is sound; otherwise it holds the sound NAL units only, each behind a
// 4-byte start code, in a buffer the checker owns (valid until the next
// call). dropped counts the NAL units left out (bytes before the first
// start code that are not zero padding count as one). ok is false when the
// access unit cannot be shown: a slice is broken, or nothing sound is left
// of a damaged unit; the caller drops it whole, as a picture with a slice
// missing would corrupt every picture that refers to it.
//
// Valid parameter sets are remembered even when ok is false.
func (c *AUChecker) Check(au []byte) (out []byte, dropped int, ok bool) {
	first := startCode(au, 0)
	if first < 0 {
		if len(au) == 0 {
			return au, 0, false
		}
		return nil, 1, false
	}
	for _, b := range au[:first] {
		if b != 0 {
			dropped++ // bytes before the first start code
			break
		}
	}
	badSlice, vcl, n := false, 0, 0
	for nal, rest := NextNAL(au[first:]); nal != nil; nal, rest = NextNAL(rest) {
		n++
		good, isVCL := c.nal(nal)
		if isVCL && !good {
			badSlice = true
		}
		if !good {
			dropped++
			continue
		}
		if isVCL {
			vcl++
		}
	}
	if n == 0 {
		return nil, dropped + 1, false // start codes only
	}
	if dropped == 0 {
		return au, 0, true
	}
	if badSlice || vcl == 0 && !c.onlyParams(au[first:]) {
		return nil, dropped, false
	}
	// Rebuild without the broken units. The parameter sets were recorded
	// by the pass above; only the syntax checks are repeated here.
	c.buf = c.buf[:0]
	for nal, rest := NextNAL(au[first:]); nal != nil; nal, rest = NextNAL(rest) {
		if c.sound(nal) {
			c.buf = append(append(c.buf, 0, 0, 0, 1), nal...)
		}
	}
	return c.buf, dropped, true
}

// onlyParams reports whether every sound NAL unit of au is a parameter set
// (an access unit that only refreshes them is fine without a slice).
func (c *AUChecker) onlyParams(au []byte) bool {
	any := false
	for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
		if !c.sound(nal) {
			continue
		}
		if t := nal[0] & 0x1f; t != NALSPS && t != NALPPS {
			return false
		}
		any = true
	}
	return any
}

// sound repeats the checks of nal against the state as it is now. It is
// used only while rebuilding, after nal updated that state: a parameter set
// that was good is good again (it is re-parsed the same way).
func (c *AUChecker) sound(nal []byte) bool {
	good, _ := c.nal(nal)
	return good
}

// nal checks one NAL unit (without start code), records valid parameter
// sets, and reports whether it is sound and whether it is a slice.
func (c *AUChecker) nal(nal []byte) (good, vcl bool) {
	h := nal[0]
	t := h & 0x1f
	vcl = t >= 1 && t <= 5
	if h&0x80 != 0 || !escapesOK(nal[1:]) {
		return false, vcl
	}
	ref := h >> 5
	switch t {
	case 1:
		return c.slice(nal[1:], false, ref), true
	case 5:
		return ref != 0 && c.slice(nal[1:], true, ref), true
	case 2, 3, 4:
		return false, true // data partitioning: not in the profiles webcams send
	case NALSPS:
		return ref != 0 && c.parseSPS(nal[1:]), false
	case NALPPS:
		return ref != 0 && c.parsePPS(nal[1:]), false
	case 6: // SEI: passed on unparsed, must not be empty
		return len(nal) > 1 && ref == 0, false
	case NALAUD:
		return len(nal) == 2 && nal[1]>>5 <= 7 && nal[1]&0x1f == 0x10, false
	case 10, 11: // end of sequence, end of stream
		return len(nal) == 1, false
	case 12: // filler data
		return ref == 0, false
	}
	// 0 and 24..31 are unspecified; 13..23 (SPS extension, SVC and MVC
	// layers, auxiliary pictures) are nothing a base-layer viewer uses.
	return false, false
}

// escapesOK checks the emulation prevention of a NAL payload: 00 00 is
// never followed by 00, 01 or 02, and 00 00 03 by a byte above 03.
func escapesOK(b []byte) bool {
	zeros := 0
	for i, x := range b {
		if zeros >= 2 {
			if x <= 2 {
				return false
			}
			if x == 3 && i+1 < len(b) && b[i+1] > 3 {
				return false
			}
		}
		if x == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return true
}

// bitReader reads the RBSP of a NAL payload, skipping emulation prevention
// bytes. Every read reports false once the payload is exhausted.
type bitReader struct {
	b     []byte
	i     int
	zeros int
	cur   byte
	n     uint
}

func (r *bitReader) bit() (uint32, bool) {
	if r.n == 0 {
		if r.i >= len(r.b) {
			return 0, false
		}
		x := r.b[r.i]
		r.i++
		if r.zeros >= 2 && x == 3 {
			r.zeros = 0
			if r.i >= len(r.b) {
				return 0, false
			}
			x = r.b[r.i]
			r.i++
		}
		if x == 0 {
			r.zeros++
		} else {
			r.zeros = 0
		}
		r.cur, r.n = x, 8
	}
	r.n--
	return uint32(r.cur>>r.n) & 1, true
}

func (r *bitReader) bits(n int) (uint32, bool) {
	var v uint32
	for range n {
		b, ok := r.bit()
		if !ok {
			return 0, false
		}
		v = v<<1 | b
	}
	return v, true
}

func (r *bitReader) flag() (bool, bool) {
	b, ok := r.bit()
	return b == 1, ok
}

// ue reads an unsigned Exp-Golomb code of at most 32 bits.
func (r *bitReader) ue() (uint32, bool) {
	zeros := 0
	for {
		b, ok := r.bit()
		if !ok {
			return 0, false
		}
		if b == 1 {
			break
		}
		if zeros++; zeros > 31 {
			return 0, false
		}
	}
	v, ok := r.bits(zeros)
	if !ok {
		return 0, false
	}
	return uint32(uint64(1)<<zeros-1) + v, true
}

// se reads a signed Exp-Golomb code.
func (r *bitReader) se() (int32, bool) {
	v, ok := r.ue()
	if !ok {
		return 0, false
	}
	if v&1 == 1 {
		return int32(v/2) + 1, true
	}
	return -int32(v / 2), true
}

// ueMax reads ue and checks it is at most max.
func (r *bitReader) ueMax(max uint32) (uint32, bool) {
	v, ok := r.ue()
	return v, ok && v <= max
}

// seIn reads se and checks it is in [lo, hi].
func (r *bitReader) seIn(lo, hi int32) bool {
	v, ok := r.se()
	return ok && v >= lo && v <= hi
}

// more reports whether a 1 bit is left (at least the RBSP stop bit).
func (r *bitReader) more() bool {
	for {
		b, ok := r.bit()
		if !ok {
			return false
		}
		if b == 1 {
			return true
		}
	}
}

// trailing reports whether what is left is exactly the RBSP trailing bits
// (a 1, then zeros to the end).
func (r *bitReader) trailing() bool {
	b, ok := r.bit()
	if !ok || b != 1 {
		return false
	}
	for {
		b, ok := r.bit()
		if !ok {
			return true
		}
		if b != 0 {
			return false
		}
	}
}

// profiles that may carry chroma_format_idc and the high-profile fields.
func highProfile(p uint32) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

func knownProfile(p uint32) bool { return p == 66 || p == 77 || p == 88 || highProfile(p) }

// skipScalingList reads one scaling_list() of size entries.
func skipScalingList(r *bitReader, size int) bool {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			d, ok := r.se()
			if !ok || d < -128 || d > 127 {
				return false
			}
			next = (last + d + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
	return true
}

// parseSPS checks a sequence parameter set (payload after the NAL header)
// and records it.
func (c *AUChecker) parseSPS(b []byte) bool {
	r := bitReader{b: b}
	profile, ok := r.bits(8)
	if !ok || !knownProfile(profile) {
		return false
	}
	if _, ok := r.bits(16); !ok { // constraint flags, reserved bits, level
		return false
	}
	id, ok := r.ueMax(31)
	if !ok {
		return false
	}
	var s spsInfo
	if highProfile(profile) {
		chroma, ok := r.ueMax(3)
		if !ok {
			return false
		}
		if chroma == 3 {
			if s.sepColourPlane, ok = r.flag(); !ok {
				return false
			}
		}
		if _, ok := r.ueMax(6); !ok { // bit_depth_luma_minus8
			return false
		}
		if _, ok := r.ueMax(6); !ok { // bit_depth_chroma_minus8
			return false
		}
		if _, ok := r.bit(); !ok { // qpprime_y_zero_transform_bypass_flag
			return false
		}
		scaling, ok := r.flag()
		if !ok {
			return false
		}
		if scaling {
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				present, ok := r.flag()
				if !ok {
					return false
				}
				size := 16
				if i >= 6 {
					size = 64
				}
				if present && !skipScalingList(&r, size) {
					return false
				}
			}
		}
	}
	v, ok := r.ueMax(12)
	if !ok {
		return false
	}
	s.log2MaxFrameNum = int(v) + 4
	v, ok = r.ueMax(2)
	if !ok {
		return false
	}
	s.pocType = int(v)
	switch s.pocType {
	case 0:
		v, ok := r.ueMax(12)
		if !ok {
			return false
		}
		s.log2MaxPOCLsb = int(v) + 4
	case 1:
		if s.deltaPicOrderAlwaysZero, ok = r.flag(); !ok {
			return false
		}
		if _, ok := r.se(); !ok {
			return false
		}
		if _, ok := r.se(); !ok {
			return false
		}
		n, ok := r.ueMax(255)
		if !ok {
			return false
		}
		for range n {
			if _, ok := r.se(); !ok {
				return false
			}
		}
	}
	if _, ok := r.ueMax(16); !ok { // max_num_ref_frames
		return false
	}
	if _, ok := r.bit(); !ok { // gaps_in_frame_num_value_allowed_flag
		return false
	}
	w, ok := r.ueMax(511) // up to 8192 pixels
	if !ok {
		return false
	}
	h, ok := r.ueMax(511)
	if !ok {
		return false
	}
	if s.frameMBsOnly, ok = r.flag(); !ok {
		return false
	}
	if !s.frameMBsOnly {
		if _, ok := r.bit(); !ok { // mb_adaptive_frame_field_flag
			return false
		}
	}
	if _, ok := r.bit(); !ok { // direct_8x8_inference_flag
		return false
	}
	crop, ok := r.flag()
	if !ok {
		return false
	}
	if crop {
		for range 4 {
			if _, ok := r.ueMax(8192); !ok {
				return false
			}
		}
	}
	vui, ok := r.flag()
	if !ok {
		return false
	}
	// VUI is not parsed: it must leave at least the stop bit.
	if vui && !r.more() || !vui && !r.trailing() {
		return false
	}
	s.widthInMBs, s.heightInUnits = w+1, h+1
	s.picSizeInMBs = s.widthInMBs * s.heightInUnits
	if !s.frameMBsOnly {
		s.picSizeInMBs *= 2
	}
	s.valid = true
	c.sps[id] = s
	return true
}

// parsePPS checks a picture parameter set against the SPS it names and
// records it.
func (c *AUChecker) parsePPS(b []byte) bool {
	r := bitReader{b: b}
	id, ok := r.ueMax(255)
	if !ok {
		return false
	}
	spsID, ok := r.ueMax(31)
	if !ok || !c.sps[spsID].valid {
		return false
	}
	p := ppsInfo{spsID: uint8(spsID)}
	if _, ok := r.bit(); !ok { // entropy_coding_mode_flag
		return false
	}
	if p.bottomFieldPOC, ok = r.flag(); !ok {
		return false
	}
	groups, ok := r.ueMax(7)
	if !ok {
		return false
	}
	if groups > 0 {
		return false // slice groups (FMO): baseline extras no webcam sends
	}
	if _, ok := r.ueMax(31); !ok { // num_ref_idx_l0_default_active_minus1
		return false
	}
	if _, ok := r.ueMax(31); !ok { // l1
		return false
	}
	if _, ok := r.bit(); !ok { // weighted_pred_flag
		return false
	}
	if v, ok := r.bits(2); !ok || v > 2 { // weighted_bipred_idc
		return false
	}
	if !r.seIn(-26, 25) || !r.seIn(-26, 25) || !r.seIn(-12, 12) {
		return false
	}
	if _, ok := r.bits(2); !ok { // deblocking control, constrained intra
		return false
	}
	if p.redundantPicCnt, ok = r.flag(); !ok {
		return false
	}
	if !r.more() { // the high-profile extension, or the stop bit
		return false
	}
	p.valid = true
	c.pps[id] = p
	return true
}

// slice checks a slice header (payload after the NAL header) against the
// PPS and SPS it names. A slice whose PPS has not been seen cannot be
// checked further and is let through: the pipeline does not start a stream
// before an IDR with its parameter sets anyway.
func (c *AUChecker) slice(b []byte, idr bool, ref byte) bool {
	r := bitReader{b: b}
	firstMB, ok := r.ue()
	if !ok {
		return false
	}
	typ, ok := r.ueMax(9)
	if !ok {
		return false
	}
	if idr && typ%5 != 2 && typ%5 != 4 { // an IDR holds I or SI slices only
		return false
	}
	ppsID, ok := r.ueMax(255)
	if !ok {
		return false
	}
	p := c.pps[ppsID]
	if !p.valid {
		return r.more()
	}
	s := c.sps[p.spsID]
	if !s.valid || firstMB >= s.picSizeInMBs {
		return false
	}
	if s.sepColourPlane {
		if _, ok := r.bits(2); !ok {
			return false
		}
	}
	frameNum, ok := r.bits(s.log2MaxFrameNum)
	if !ok || idr && frameNum != 0 {
		return false
	}
	field := false
	if !s.frameMBsOnly {
		if field, ok = r.flag(); !ok {
			return false
		}
		if field {
			if _, ok := r.bit(); !ok {
				return false
			}
		}
	}
	if idr {
		if _, ok := r.ueMax(65535); !ok {
			return false
		}
	}
	switch {
	case s.pocType == 0:
		if _, ok := r.bits(s.log2MaxPOCLsb); !ok {
			return false
		}
		if p.bottomFieldPOC && !field {
			if _, ok := r.se(); !ok {
				return false
			}
		}
	case s.pocType == 1 && !s.deltaPicOrderAlwaysZero:
		if _, ok := r.se(); !ok {
			return false
		}
		if p.bottomFieldPOC && !field {
			if _, ok := r.se(); !ok {
				return false
			}
		}
	}
	if p.redundantPicCnt {
		if _, ok := r.ueMax(127); !ok {
			return false
		}
	}
	// The rest of the header depends on the slice type and reference
	// lists; what follows must at least hold slice data.
	return r.more()
}

// NextAU returns the first access unit of the Annex-B stream b and the
// rest, splitting where a new primary picture starts (H.264 7.4.1.2.3): at
// an access unit delimiter, SPS, PPS or SEI that follows a slice, or at a
// slice with first_mb_in_slice 0 that follows a slice. au is nil at the end
// of b. It is for recorded streams (tests, tools): a camera delivers one
// access unit per buffer.
func NextAU(b []byte) (au, rest []byte) {
	start := startCode(b, 0)
	if start < 0 {
		return nil, nil
	}
	for start > 0 && b[start-1] == 0 { // a 4-byte start code
		start--
	}
	b = b[start:]
	sawVCL := false
	for pos := 0; ; {
		nal, next := NextNAL(b[pos:])
		if nal == nil {
			return b, nil
		}
		t := nal[0] & 0x1f
		vcl := t >= 1 && t <= 5
		newPic := vcl && len(nal) > 1 && nal[1]&0x80 != 0 // first_mb_in_slice == 0
		if sawVCL && (newPic || t == NALAUD || t == NALSPS || t == NALPPS || t == 6) {
			for pos > 0 && b[pos-1] == 0 {
				pos--
			}
			return b[:pos], b[pos:]
		}
		if vcl {
			sawVCL = true
		}
		if next == nil {
			return b, nil
		}
		pos = len(b) - len(next)
	}
}
