// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"github.com/camnode/camnode/capture"
)

// encodeLoop is the single encoder goroutine: it takes the newest pending
// frame, encodes it (or passes H.264 through) and packetizes it once onto
// the shared track, which every viewer's sender is bound to.
func (s *Server) encodeLoop() {
	defer close(s.encDone)
	defer func() {
		if s.enc != nil {
			s.enc.Close()
		}
	}()
	for {
		select {
		case <-s.quit:
			return
		case <-s.wake:
		}
		s.pmu.Lock()
		sl := s.pending
		s.pending = nil
		s.pmu.Unlock()
		if sl == nil {
			continue
		}
		s.encodeOne(sl)
		s.pmu.Lock()
		s.spare = append(s.spare, sl)
		s.pmu.Unlock()
	}
}

func (s *Server) encodeOne(sl *slot) {
	if sl.epoch != s.epochA.Load() {
		return // captured before a Cut
	}
	key := s.wantKey.Swap(false)
	if sl.epoch != s.encEpoch {
		// A new epoch (privacy was on in between) starts with a keyframe
		// and a fresh encoder, so nothing refers to pictures from before.
		s.encEpoch = sl.epoch
		s.closeEncoder()
		key = true
	}
	var au []byte
	if sl.format.Pixel == capture.H264 {
		au = sl.buf
	} else {
		if s.enc == nil || s.encFmt != sl.format {
			s.closeEncoder()
			enc, err := newSoftwareEncoder(sl.format, s.cfg.FPS, s.cfg.BitrateKbps)
			if err != nil {
				s.setEncErr(err.Error())
				return
			}
			s.enc, s.encFmt = enc, sl.format
			s.setEncErr("")
			key = true
		}
		var err error
		if s.au, err = s.enc.Encode(s.au[:0], sl.buf, key); err != nil {
			s.log.Warn("live view: encode failed", "err", err)
			s.closeEncoder()
			return
		}
		au = s.au
	}
	if len(au) == 0 {
		return
	}
	if s.t0.IsZero() {
		s.t0 = sl.t
	}
	ts := uint32(sl.t.Sub(s.t0).Microseconds() * 9 / 100) // 90 kHz
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sl.epoch != s.epoch || s.track == nil {
		return
	}
	if _, err := s.pk.packetize(au, ts, s.track); err != nil {
		s.log.Debug("live view: write", "err", err)
	}
	s.frameOut.Add(1)
	for _, sess := range s.sessions {
		if sess.connected.Load() {
			sess.frames.Add(1)
		}
	}
}

func (s *Server) closeEncoder() {
	if s.enc != nil {
		s.enc.Close()
		s.enc = nil
	}
}

func (s *Server) setEncErr(msg string) {
	s.mu.Lock()
	s.encErr = msg
	s.mu.Unlock()
}

// yuyvToI420 appends the I420 conversion of a packed YUYV picture to dst.
func yuyvToI420(dst, src []byte, w, h int) []byte {
	cw, ch := (w+1)/2, (h+1)/2
	n := w*h + 2*cw*ch
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	y, u, v := dst[:w*h], dst[w*h:w*h+cw*ch], dst[w*h+cw*ch:]
	for r := range h {
		row := src[r*2*w : (r+1)*2*w]
		for c := range w {
			y[r*w+c] = row[2*c]
		}
		if r%2 == 0 {
			for c := 0; c < w/2; c++ {
				u[(r/2)*cw+c] = row[4*c+1]
				v[(r/2)*cw+c] = row[4*c+3]
			}
		}
	}
	return dst
}
