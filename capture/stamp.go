// SPDX-License-Identifier: Apache-2.0

package capture

import "time"

// Stamp layout: a stamp is a band of StampCols x StampRows square blocks,
// each StampBlock pixels wide and high, painted into the luma plane at the top-left corner of
// the picture (pixels x in [0, StampWidth), y in [0, StampHeight)). With the
// default constants the band is 20 x 6 blocks of 16 x 16 pixels, i.e.
// 320 x 96 pixels, so the smallest frame that can carry a stamp is 320x96.
// Blocks are aligned to the 16x16 macroblock grid of H.264 and VP8, and the
// chroma under the band is set to neutral (128) so that colour bleeding does
// not disturb the luma after compression.
//
// Each block holds one bit: black (Y=StampBlack=16) for 0, white
// (Y=StampWhite=235) for 1. Blocks are numbered row-major from the top-left
// block (slot = row*StampCols + col) and carry, most significant bit first:
//
//	slots   0..15   start marker, the 16-bit constant StampMarker (0xE4B1)
//	slots  16..47   frame counter, uint32
//	slots  48..111  capture time, int64 Unix microseconds (two's complement)
//	slots 112..119  checksum: CRC-8 (polynomial 0x07, init 0, no reflection)
//	                of the counter (4 bytes) and time (8 bytes), big-endian
//
// A reader averages the central 8x8 pixels of each block and thresholds the
// mean at StampThreshold, which keeps each bit readable with noise of ±40 on
// Y (tested up to ±150) and is meant to survive moderate compression
// artefacts. A stamp is accepted only if
// the marker matches exactly and the checksum is correct.
//
// The constants below give the geometry and levels of the layout.
const (
	// StampBlock is the side of one square bit block, in pixels.
	StampBlock = 16
	// StampCols is the number of blocks per band row.
	StampCols = 20
	// StampRows is the number of block rows in the band.
	StampRows = 6
	// StampWidth is the width of the band in pixels: the minimum frame width.
	StampWidth = StampCols * StampBlock
	// StampHeight is the height of the band in pixels: the minimum frame height.
	StampHeight = StampRows * StampBlock
	// StampMarker is the 16-bit start marker in the first 16 blocks.
	StampMarker uint16 = 0xE4B1
	// StampBlack is the luma of a 0 bit (video black).
	StampBlack = 16
	// StampWhite is the luma of a 1 bit (video white).
	StampWhite = 235
	// StampThreshold is the mean luma at and above which a block reads as 1.
	StampThreshold = (StampBlack + StampWhite + 1) / 2
)

const (
	stampMarkerBits  = 16
	stampCounterBits = 32
	stampTimeBits    = 64
	stampCRCBits     = 8
	stampBits        = stampMarkerBits + stampCounterBits + stampTimeBits + stampCRCBits
	// stampMaxDim bounds the frame dimensions Stamp and ReadFrameStamp
	// accept, so that size arithmetic cannot overflow a 32-bit int (GOARCH
	// arm on older Raspberry Pis).
	stampMaxDim = 1 << 14
	// sampleLo/sampleHi bound the central sampling window inside a block.
	sampleLo = StampBlock / 4
	sampleHi = StampBlock - StampBlock/4
	sampleN  = (sampleHi - sampleLo) * (sampleHi - sampleLo)
)

// The layout must fill the band exactly: either constant is negative, and
// does not compile, if it does not.
const (
	_ uint = StampCols*StampRows - stampBits
	_ uint = stampBits - StampCols*StampRows
)

// Stamp paints the frame counter and the capture time t (at microsecond
// resolution) as a band of black/white blocks into the top-left corner of f,
// using the layout described in stamp.go, and sets the chroma under the band
// to neutral.
//
// It supports I420, NV12 and YUYV frames. It does nothing if the format is
// another one, if the frame is smaller than StampWidth x StampHeight (or
// larger than 16384 in either dimension), or if f.Data is shorter than
// f.Format.FrameSize(). It does not allocate.
func Stamp(f *Frame, counter uint32, t time.Time) {
	if f == nil || !stampable(f.Format, len(f.Data)) {
		return
	}
	w, h := f.Format.Width, f.Format.Height
	data := f.Data
	switch f.Format.Pixel {
	case I420:
		cw, ch := (w+1)/2, (h+1)/2
		paintStamp(data, w, 1, counter, t)
		neutral(data[w*h:], cw, StampWidth/2, StampHeight/2)
		neutral(data[w*h+cw*ch:], cw, StampWidth/2, StampHeight/2)
	case NV12:
		cw := (w + 1) / 2
		paintStamp(data, w, 1, counter, t)
		neutral(data[w*h:], 2*cw, StampWidth, StampHeight/2)
	case YUYV:
		paintStamp(data, 2*w, 2, counter, t)
		for y := range StampHeight {
			row := data[y*2*w : y*2*w+2*StampWidth]
			for x := 1; x < len(row); x += 2 {
				row[x] = 128
			}
		}
	}
}

// ReadStamp decodes a stamp from a luma plane: y holds height rows of width
// pixels, one byte per pixel, rows stride bytes apart. It returns the frame
// counter and the capture time (in the local time zone, microsecond
// resolution) and ok=true if the marker and the checksum are intact, or
// ok=false if the plane is too small (or wider than 16384 pixels),
// inconsistent with len(y), or carries no valid stamp. It never panics and does not allocate.
//
// For I420 and NV12 frames y is Frame.Data and stride is the width; for
// packed YUYV use ReadFrameStamp.
func ReadStamp(y []byte, stride, width, height int) (counter uint32, t time.Time, ok bool) {
	return readStamp(y, stride, 1, width, height)
}

// ReadFrameStamp decodes the stamp of an I420, NV12 or YUYV frame painted by
// Stamp. It returns ok=false for other formats, for frames too small to
// carry a stamp, when f.Data is shorter than f.Format.FrameSize(), or when
// the marker or checksum does not match. Frames wider or higher than 16384
// pixels are not supported.
func ReadFrameStamp(f *Frame) (counter uint32, t time.Time, ok bool) {
	if f == nil || !stampable(f.Format, len(f.Data)) {
		return 0, time.Time{}, false
	}
	w, h := f.Format.Width, f.Format.Height
	if f.Format.Pixel == YUYV {
		return readStamp(f.Data, 2*w, 2, w, h)
	}
	return readStamp(f.Data, w, 1, w, h)
}

// stampable reports whether a frame of format f with n bytes of data can
// carry a stamp.
func stampable(f Format, n int) bool {
	switch f.Pixel {
	case I420, NV12, YUYV:
	default:
		return false
	}
	if f.Width < StampWidth || f.Height < StampHeight || f.Width > stampMaxDim || f.Height > stampMaxDim {
		return false
	}
	return n >= f.FrameSize()
}

// readStamp decodes a stamp from luma samples that are step bytes apart
// within a row and stride bytes apart between rows.
func readStamp(y []byte, stride, step, width, height int) (counter uint32, t time.Time, ok bool) {
	if width < StampWidth || height < StampHeight || step < 1 || stride/step < width {
		return 0, time.Time{}, false
	}
	// The whole plane must fit in y: (height-1)*stride + (width-1)*step + 1
	// bytes, computed without overflow.
	if width > stampMaxDim {
		return 0, time.Time{}, false
	}
	avail := len(y) - ((width-1)*step + 1)
	if avail < 0 || stride > avail/(height-1) {
		return 0, time.Time{}, false
	}

	var marker uint16
	var us uint64
	var crc uint8
	for slot := range stampBits {
		bx := (slot % StampCols) * StampBlock
		by := (slot / StampCols) * StampBlock
		sum := 0
		for yy := by + sampleLo; yy < by+sampleHi; yy++ {
			row := y[yy*stride:]
			for xx := bx + sampleLo; xx < bx+sampleHi; xx++ {
				sum += int(row[xx*step])
			}
		}
		var bit uint8
		if sum >= StampThreshold*sampleN {
			bit = 1
		}
		switch {
		case slot < stampMarkerBits:
			marker = marker<<1 | uint16(bit)
		case slot < stampMarkerBits+stampCounterBits:
			counter = counter<<1 | uint32(bit)
		case slot < stampMarkerBits+stampCounterBits+stampTimeBits:
			us = us<<1 | uint64(bit)
		default:
			crc = crc<<1 | bit
		}
	}
	if marker != StampMarker || crc != stampCRC(counter, us) {
		return 0, time.Time{}, false
	}
	return counter, time.UnixMicro(int64(us)), true
}

// paintStamp paints the stamp blocks into luma samples that are step bytes
// apart within a row and stride bytes apart between rows. The caller has
// checked the bounds.
func paintStamp(y []byte, stride, step int, counter uint32, t time.Time) {
	us := uint64(t.UnixMicro())
	crc := stampCRC(counter, us)
	for slot := range stampBits {
		var bit uint64
		switch {
		case slot < stampMarkerBits:
			bit = uint64(StampMarker>>(stampMarkerBits-1-slot)) & 1
		case slot < stampMarkerBits+stampCounterBits:
			bit = uint64(counter>>(stampMarkerBits+stampCounterBits-1-slot)) & 1
		case slot < stampMarkerBits+stampCounterBits+stampTimeBits:
			bit = us >> (stampMarkerBits + stampCounterBits + stampTimeBits - 1 - slot) & 1
		default:
			bit = uint64(crc>>(stampBits-1-slot)) & 1
		}
		v := byte(StampBlack)
		if bit == 1 {
			v = StampWhite
		}
		bx := (slot % StampCols) * StampBlock
		by := (slot / StampCols) * StampBlock
		for yy := by; yy < by+StampBlock; yy++ {
			row := y[yy*stride+bx*step : yy*stride+(bx+StampBlock-1)*step+1]
			for i := 0; i < len(row); i += step {
				row[i] = v
			}
		}
	}
}

// neutral sets a w x h rectangle at the top-left of a plane with the given
// stride to 128.
func neutral(p []byte, stride, w, h int) {
	for y := range h {
		row := p[y*stride : y*stride+w]
		for i := range row {
			row[i] = 128
		}
	}
}

// stampCRC is CRC-8 (polynomial x^8+x^2+x+1, init 0) of counter and us,
// big-endian.
func stampCRC(counter uint32, us uint64) uint8 {
	var c uint8
	for i := 3; i >= 0; i-- {
		c = crc8(c, byte(counter>>(8*i)))
	}
	for i := 7; i >= 0; i-- {
		c = crc8(c, byte(us>>(8*i)))
	}
	return c
}

func crc8(c, b byte) byte {
	c ^= b
	for range 8 {
		if c&0x80 != 0 {
			c = c<<1 ^ 0x07
		} else {
			c <<= 1
		}
	}
	return c
}
