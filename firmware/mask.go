// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Privacy masks (issue 13) are part of the signed identity, and only there:
// no configuration key, local command or hub command can add, move or
// remove one. Coordinates are relative to the picture, 0..1 from the left
// and top edges, so a resolution change keeps a mask in place. The capture
// package compiles them for a frame size (capture.CompileMasks) and fills
// the masked pixels with a solid colour before any output sees the frame.
//
// In the identity payload:
//
//	"masks": [
//	  {"rect": [x0, y0, x1, y1]},
//	  {"poly": [[x, y], [x, y], [x, y], ...]}
//	]
//
// A rect has x0 < x1 and y0 < y1. A poly is a simple polygon of 3..32
// points, filled with the even-odd rule; its points must not all lie on
// one line.
const (
	MaxMasks      = 16
	MaxPolyPoints = 32
	MinPolyPoints = 3
)

// Mask is one privacy mask: exactly one of Rect and Poly is set.
type Mask struct {
	Rect []float64   `json:"rect,omitempty"` // [x0, y0, x1, y1]
	Poly [][]float64 `json:"poly,omitempty"` // [[x, y], ...]
}

// unitCoord reports whether v is a finite number in [0, 1].
func unitCoord(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 1 }

// Validate checks one mask. Errors say what is wrong, not where; the
// caller prefixes the position.
func (m Mask) Validate() error {
	switch {
	case m.Rect != nil && m.Poly != nil:
		return errors.New("has both rect and poly; use one mask each")
	case m.Rect != nil:
		if len(m.Rect) != 4 {
			return fmt.Errorf("rect has %d numbers, want 4: [x0, y0, x1, y1]", len(m.Rect))
		}
		for _, v := range m.Rect {
			if !unitCoord(v) {
				return fmt.Errorf("rect coordinate %v outside [0, 1] (relative to the picture)", v)
			}
		}
		if !(m.Rect[0] < m.Rect[2]) || !(m.Rect[1] < m.Rect[3]) {
			return fmt.Errorf("rect %v is empty: want x0 < x1 and y0 < y1", m.Rect)
		}
	case m.Poly != nil:
		if len(m.Poly) < MinPolyPoints || len(m.Poly) > MaxPolyPoints {
			return fmt.Errorf("poly has %d points, want %d..%d", len(m.Poly), MinPolyPoints, MaxPolyPoints)
		}
		for i, p := range m.Poly {
			if len(p) != 2 {
				return fmt.Errorf("poly point %d has %d numbers, want 2: [x, y]", i, len(p))
			}
			if !unitCoord(p[0]) || !unitCoord(p[1]) {
				return fmt.Errorf("poly point %d %v outside [0, 1] (relative to the picture)", i, p)
			}
		}
		if collinear(m.Poly) {
			return errors.New("poly encloses no area: its points lie on one line")
		}
	default:
		return errors.New("has neither rect nor poly")
	}
	return nil
}

// validateMasks checks the list of masks of an identity.
func validateMasks(ms []Mask) error {
	if len(ms) > MaxMasks {
		return fmt.Errorf("masks: %d masks, at most %d", len(ms), MaxMasks)
	}
	var errs []error
	for i, m := range ms {
		if err := m.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("masks[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// collinear reports whether all points lie on one line (or one point).
func collinear(pts [][]float64) bool {
	o := pts[0]
	for i := 1; i < len(pts); i++ {
		for j := i + 1; j < len(pts); j++ {
			a, b := pts[i], pts[j]
			if (a[0]-o[0])*(b[1]-o[1])-(a[1]-o[1])*(b[0]-o[0]) != 0 {
				return false
			}
		}
	}
	return true
}

// ParseMask parses one mask as installers type it (camctl provision -mask,
// camnode demo -mask): rect:X0,Y0,X1,Y1 or
// poly:X,Y;X,Y;X,Y... with numbers relative to the picture. The mask is
// checked as the node will check it (Mask.Validate). Errors quote s.
func ParseMask(s string) (Mask, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	nums := func(s string, n int) ([]float64, error) {
		parts := strings.Split(s, ",")
		if n > 0 && len(parts) != n {
			return nil, fmt.Errorf("%d numbers, want %d", len(parts), n)
		}
		out := make([]float64, len(parts))
		for i, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", strings.TrimSpace(p))
			}
			out[i] = v
		}
		return out, nil
	}
	var m Mask
	var err error
	switch {
	case !ok:
		return m, fmt.Errorf("%q: want rect:X0,Y0,X1,Y1 or poly:X,Y;X,Y;X,Y...", s)
	case kind == "rect":
		if m.Rect, err = nums(rest, 4); err != nil {
			return m, fmt.Errorf("%q: rect: %v", s, err)
		}
	case kind == "poly":
		for _, pt := range strings.Split(rest, ";") {
			xy, err := nums(pt, 2)
			if err != nil {
				return m, fmt.Errorf("%q: poly point %d: %v", s, len(m.Poly), err)
			}
			m.Poly = append(m.Poly, xy)
		}
	default:
		return m, fmt.Errorf("%q: unknown shape %q; want rect: or poly:", s, kind)
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%q: %v", s, err)
	}
	return m, nil
}
