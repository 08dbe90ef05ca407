// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FormatOffer is one mode a camera offers: a pixel format at a frame size
// and the highest frame rate it offers there. Zero Width/Height means the
// driver did not enumerate sizes (any size); zero FPS that it did not
// enumerate rates (any rate).
type FormatOffer struct {
	Pixel         PixelFormat
	Width, Height int
	FPS           float64
}

func (o FormatOffer) String() string {
	s := string(o.Pixel)
	if o.Width > 0 {
		s += fmt.Sprintf(" %dx%d", o.Width, o.Height)
	}
	if o.FPS > 0 {
		s += fmt.Sprintf("@%g", o.FPS)
	}
	return s
}

// Want is what the node is configured to capture. Zero fields mean "any".
type Want struct {
	Width, Height int
	FPS           int
	// Allowed, if not empty, restricts the pixel formats considered
	// (the camera.formats setting): it is a filter, not an order; the
	// order is always the cost to the node (see Choose).
	Allowed []PixelFormat
}

// Capabilities is what the node's outputs can show, as the caller knows
// it (the build and the configuration).
type Capabilities struct {
	// Encode: raw pictures can be encoded (the pipeline has x264).
	Encode bool
	// DecodeMJPEG: MJPEG can be decoded (HaveJPEGDecoder).
	DecodeMJPEG bool
	// NeedRaw: every picture must be decoded on the node (privacy masks
	// are set), so H.264 is never passed through.
	NeedRaw bool
}

// Choice is the chosen camera mode.
type Choice struct {
	Pixel         PixelFormat
	Width, Height int     // 0: the driver's choice (it lists no sizes)
	FPS           float64 // the highest rate offered in this mode, 0 unknown
}

func (c Choice) String() string { return FormatOffer(c).String() }

// ErrNoFormat is wrapped by Choose's error when the camera offers nothing
// an output can show.
var ErrNoFormat = errors.New("capture: the camera offers no format the node can show")

// cost ranks the pixel formats by what they cost the node: H.264 is passed
// through, raw formats are encoded (I420 and NV12 as they come, YUYV
// converted first), MJPEG is decoded and encoded.
func cost(p PixelFormat) int {
	switch p {
	case H264:
		return 0
	case I420, NV12:
		return 1
	case YUYV:
		return 2
	case MJPEG:
		return 3
	}
	return 99
}

// showable says whether an output can show p, and if not, why.
func showable(p PixelFormat, can Capabilities) (bool, string) {
	switch p {
	case H264:
		if can.NeedRaw {
			return false, "H.264 cannot be masked (privacy masks are set)"
		}
		return true, ""
	case I420, NV12, YUYV:
		if !can.Encode {
			return false, "raw formats need the H.264 encoder (cgo build with libx264)"
		}
		return true, ""
	case MJPEG:
		if !can.DecodeMJPEG {
			return false, "MJPEG needs the cgo build with libturbojpeg"
		}
		if !can.Encode {
			return false, "MJPEG needs the H.264 encoder (cgo build with libx264)"
		}
		return true, ""
	}
	return false, "not a format camnode understands"
}

// Choose picks, among the modes a camera offers, the one that costs the
// node least and that some output can show: H.264 passthrough, then raw
// (I420, NV12, then YUYV), then MJPEG, at the wanted size and at least the
// wanted rate. When no mode has the rate at that size, the fastest mode at
// that size is taken; when the size is not offered at all, the mode
// closest to it in area. A format no output can show is never chosen: if
// nothing is left, the error (wrapping ErrNoFormat) names what the camera
// offers and why each is unusable. reason says, in one line for an
// installer, why the choice was made.
func Choose(offered []FormatOffer, want Want, can Capabilities) (Choice, string, error) {
	var ok []FormatOffer
	why := map[PixelFormat]string{}
	for _, o := range offered {
		if len(want.Allowed) > 0 && !slices.Contains(want.Allowed, o.Pixel) {
			why[o.Pixel] = "not in camera.formats"
			continue
		}
		if s, r := showable(o.Pixel, can); !s {
			why[o.Pixel] = r
			continue
		}
		ok = append(ok, o)
	}
	if len(ok) == 0 {
		var parts []string
		for _, o := range offered {
			parts = append(parts, o.String())
		}
		var reasons []string
		for _, p := range sortedKeys(why) {
			reasons = append(reasons, fmt.Sprintf("%s: %s", p, why[p]))
		}
		offers := strings.Join(parts, ", ")
		if offers == "" {
			offers = "nothing"
		}
		return Choice{}, "", fmt.Errorf("%w: it offers %s (%s)", ErrNoFormat, offers, strings.Join(reasons, "; "))
	}
	sizeOK := func(o FormatOffer) bool {
		return want.Width == 0 || want.Height == 0 || o.Width == 0 || (o.Width == want.Width && o.Height == want.Height)
	}
	rateOK := func(o FormatOffer) bool { return want.FPS == 0 || o.FPS == 0 || o.FPS >= float64(want.FPS) }
	area := func(o FormatOffer) int {
		if o.Width == 0 || want.Width == 0 {
			return 0
		}
		return abs(o.Width*o.Height - want.Width*want.Height)
	}
	// better orders candidates of one pass: cost, then rate, then size.
	better := func(a, b FormatOffer) bool {
		if cost(a.Pixel) != cost(b.Pixel) {
			return cost(a.Pixel) < cost(b.Pixel)
		}
		if a.FPS != b.FPS {
			return a.FPS > b.FPS
		}
		return a.Width*a.Height > b.Width*b.Height
	}
	pick := func(keep func(FormatOffer) bool, less func(a, b FormatOffer) bool) (FormatOffer, bool) {
		var best FormatOffer
		found := false
		for _, o := range ok {
			if keep(o) && (!found || less(o, best)) {
				best, found = o, true
			}
		}
		return best, found
	}
	wantS := fmt.Sprintf("%dx%d@%d", want.Width, want.Height, want.FPS)
	if c, found := pick(func(o FormatOffer) bool { return sizeOK(o) && rateOK(o) }, better); found {
		return Choice(c), fmt.Sprintf("%s: %s at %s", c, costReason(c.Pixel), wantS), nil
	}
	fastest := func(a, b FormatOffer) bool {
		if a.FPS != b.FPS {
			return a.FPS > b.FPS
		}
		return better(a, b)
	}
	if c, found := pick(sizeOK, fastest); found {
		return Choice(c), fmt.Sprintf("%s: no showable format reaches %d fps at %dx%d; the fastest one is used (%s)",
			c, want.FPS, want.Width, want.Height, costReason(c.Pixel)), nil
	}
	c, _ := pick(func(FormatOffer) bool { return true }, func(a, b FormatOffer) bool {
		if area(a) != area(b) {
			return area(a) < area(b)
		}
		if rateOK(a) != rateOK(b) {
			return rateOK(a)
		}
		return better(a, b)
	})
	return Choice(c), fmt.Sprintf("%s: %dx%d is not offered in a showable format; the closest size is used (%s)",
		c, want.Width, want.Height, costReason(c.Pixel)), nil
}

func costReason(p PixelFormat) string {
	switch p {
	case H264:
		return "H.264 passed through, nothing to encode"
	case I420, NV12:
		return "raw, encoded once"
	case YUYV:
		return "raw, converted and encoded once"
	case MJPEG:
		return "MJPEG, decoded and encoded once"
	}
	return string(p)
}

func sortedKeys(m map[PixelFormat]string) []PixelFormat {
	var k []PixelFormat
	for p := range m {
		k = append(k, p)
	}
	slices.Sort(k)
	return k
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
