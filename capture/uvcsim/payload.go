// SPDX-License-Identifier: Apache-2.0

package uvcsim

// UVC payload header bits (bmHeaderInfo).
const (
	hdrFID = 0x01
	hdrEOF = 0x02
	hdrEOH = 0x80
	// hdrLen is the payload header length: bHeaderLength and bmHeaderInfo
	// only (no PTS or SCR: uvcvideo then stamps buffers with its own clock).
	hdrLen = 2
)

// payloader cuts frames into UVC payloads and the payloads into bulk
// transfers the way a bulk camera's FIFO does. uvcvideo finds the end of
// a payload by a transfer shorter than the URB it submitted, or by the
// payload reaching dwMaxPayloadTransferSize; a payload that ends exactly
// at the end of a URB, shorter than the maximum, is closed by a
// zero-length transfer. It allocates only when a frame needs a bigger
// scratch buffer than any before.
type payloader struct {
	max int  // dwMaxPayloadTransferSize, header included
	fid byte // FID of the current frame

	frame []byte // current frame, nil when idle
	off   int    // bytes of frame already put in payloads

	cur    []byte // current payload (header + data), scratch
	curOff int    // bytes of cur already sent
	zlp    bool   // a zero-length transfer must close the last payload
}

func newPayloader(max int) *payloader {
	return &payloader{max: max, cur: make([]byte, 0, max)}
}

// idle reports whether the current frame is completely sent (a pending
// zero-length transfer aside): the caller loads the next one.
func (p *payloader) idle() bool { return p.frame == nil }

// load starts a new frame; the FID toggles. data must stay unchanged until
// idle reports true.
func (p *payloader) load(data []byte) {
	p.fid ^= hdrFID
	p.frame, p.off = data, 0
	p.cur, p.curOff = p.cur[:0], 0
}

// reset drops the current frame (streaming stopped).
func (p *payloader) reset() {
	p.frame, p.off, p.zlp = nil, 0, false
	p.cur, p.curOff = p.cur[:0], 0
}

// pending reports whether a transfer has something to send: a
// zero-length close or frame data.
func (p *payloader) pending() bool { return p.zlp || p.frame != nil }

// next fills one bulk transfer of at most urbLen bytes into dst[:0] and
// returns it. frameDone is true when it carried the last byte of a frame.
func (p *payloader) next(dst []byte, urbLen int) (out []byte, frameDone bool) {
	out = dst[:0]
	if p.zlp {
		p.zlp = false
		return out, false
	}
	if p.frame == nil || urbLen <= 0 {
		return out, false
	}
	if p.curOff == len(p.cur) { // build the next payload
		n := min(len(p.frame)-p.off, p.max-hdrLen)
		flags := byte(hdrEOH) | p.fid
		if p.off+n == len(p.frame) {
			flags |= hdrEOF
		}
		p.cur = append(p.cur[:0], hdrLen, flags)
		p.cur = append(p.cur, p.frame[p.off:p.off+n]...)
		p.off += n
		p.curOff = 0
	}
	k := min(urbLen, len(p.cur)-p.curOff)
	out = append(out, p.cur[p.curOff:p.curOff+k]...)
	p.curOff += k
	if p.curOff == len(p.cur) {
		if k == urbLen && len(p.cur) < p.max {
			p.zlp = true
		}
		if p.off == len(p.frame) {
			p.frame = nil
			return out, true
		}
	}
	return out, false
}
