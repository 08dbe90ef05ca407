// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// USB/IP (Documentation/usb/usbip_protocol.rst): after the attach, the
// kernel's vhci_hcd sends USBIP_CMD_SUBMIT and USBIP_CMD_UNLINK, the device
// side answers USBIP_RET_SUBMIT and USBIP_RET_UNLINK. Every header is 48
// bytes, big-endian; OUT data follows a CMD_SUBMIT, IN data a RET_SUBMIT.
const (
	cmdSubmit  = 0x0001
	cmdUnlink  = 0x0002
	retSubmit  = 0x0003
	retUnlink  = 0x0004
	headerSize = 48

	dirOut = 0
	dirIn  = 1

	// Linux errno values the kernel expects, negated, in status fields.
	errnoPIPE      = 32  // EPIPE: stall
	errnoCONNRESET = 104 // ECONNRESET: unlinked before completion

	// maxTransfer bounds one URB: larger requests are protocol errors.
	maxTransfer = 4 << 20
)

// header is a decoded USBIP_CMD_* header.
type header struct {
	command, seqnum, devid, direction, ep uint32
	flags                                 uint32
	length                                int32 // transfer_buffer_length
	packets                               int32 // number_of_packets
	setup                                 [8]byte
	unlinkSeq                             uint32
}

func parseHeader(b *[headerSize]byte) header {
	be := binary.BigEndian
	h := header{command: be.Uint32(b[0:]), seqnum: be.Uint32(b[4:]), devid: be.Uint32(b[8:]),
		direction: be.Uint32(b[12:]), ep: be.Uint32(b[16:])}
	switch h.command {
	case cmdSubmit:
		h.flags = be.Uint32(b[20:])
		h.length = int32(be.Uint32(b[24:]))
		h.packets = int32(be.Uint32(b[32:]))
		copy(h.setup[:], b[40:48])
	case cmdUnlink:
		h.unlinkSeq = be.Uint32(b[20:])
	}
	return h
}

// appendRetSubmit appends a USBIP_RET_SUBMIT header for seqnum.
func appendRetSubmit(b []byte, seqnum uint32, status int32, actual int) []byte {
	be := binary.BigEndian
	b = be.AppendUint32(b, retSubmit)
	b = be.AppendUint32(b, seqnum)
	b = append(b, make([]byte, 12)...) // devid, direction, ep: 0 in replies
	b = be.AppendUint32(b, uint32(status))
	b = be.AppendUint32(b, uint32(actual))
	b = be.AppendUint32(b, 0)            // start_frame
	b = be.AppendUint32(b, 0)            // number_of_packets (no isochronous endpoint)
	b = be.AppendUint32(b, 0)            // error_count
	return append(b, make([]byte, 8)...) // padding
}

func appendRetUnlink(b []byte, seqnum uint32, status int32) []byte {
	be := binary.BigEndian
	b = be.AppendUint32(b, retUnlink)
	b = be.AppendUint32(b, seqnum)
	b = append(b, make([]byte, 12)...)
	b = be.AppendUint32(b, uint32(status))
	return append(b, make([]byte, 24)...)
}

// urb is a bulk IN request waiting for video data.
type urb struct {
	seqnum uint32
	length int
}

// Stats counts what a Session did.
type Stats struct {
	Controls, Stalls, URBs, Unlinks, Frames, Skipped uint64
}

// Session serves a Camera over one USB/IP connection until the peer hangs
// up or Close. Frames come from a FrameSource, paced at the committed
// interval; frames the host is too slow to take are skipped (their number
// is not sent), as a real camera drops them.
type Session struct {
	cam    *Camera
	frames FrameSource
	conn   io.ReadWriteCloser
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex // guards pending, early and every write to conn
	pending []urb
	// vhci's transmit thread can send a CMD_UNLINK before the CMD_SUBMIT
	// of its target (both queued between two rounds of its loop). Such an
	// unlink waits here (target seqnum -> unlink seqnum) for its submit,
	// which is then answered by the RET_UNLINK alone: answering the
	// unlink at once with "already done" would let vhci give the URB back,
	// and the later RET_SUBMIT for it makes vhci drop the connection.
	early     map[uint32]uint32
	maxSubmit uint32 // highest CMD_SUBMIT seqnum seen
	submitted bool
	wbuf      []byte

	kick      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	err       error // the reader's end, set before done closes

	controls, stalls, urbs, unlinks, sent, skipped atomic.Uint64
}

// Serve starts serving cam on conn (the device side of a USB/IP
// connection). now may be nil (time.Now).
func Serve(conn io.ReadWriteCloser, cam *Camera, frames FrameSource, log *slog.Logger, now func() time.Time) *Session {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	s := &Session{cam: cam, frames: frames, conn: conn, log: log, now: now,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		err := s.read()
		s.shutdown(err)
	}()
	go func() {
		defer s.wg.Done()
		s.stream()
	}()
	return s
}

// Done is closed when the session ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended (nil after Close or a clean hang-up);
// valid after Done is closed.
func (s *Session) Err() error {
	<-s.done
	return s.err
}

// Stats returns the counters so far.
func (s *Session) Stats() Stats {
	return Stats{Controls: s.controls.Load(), Stalls: s.stalls.Load(), URBs: s.urbs.Load(),
		Unlinks: s.unlinks.Load(), Frames: s.sent.Load(), Skipped: s.skipped.Load()}
}

func (s *Session) shutdown(err error) {
	s.closeOnce.Do(func() {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
			err = nil
		}
		s.err = err
		close(s.done)
		_ = s.conn.Close()
	})
}

// Close ends the session and waits for its goroutines.
func (s *Session) Close() error {
	s.shutdown(nil)
	s.wg.Wait()
	return nil
}

func (s *Session) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// read handles the kernel's commands until the connection ends.
func (s *Session) read() error {
	var hb [headerSize]byte
	var data []byte
	for {
		if _, err := io.ReadFull(s.conn, hb[:]); err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			return err
		}
		h := parseHeader(&hb)
		switch h.command {
		case cmdSubmit:
			if h.length < 0 || h.length > maxTransfer || h.packets > 0 {
				return fmt.Errorf("uvcsim: usbip: submit seq %d: length %d, %d iso packets", h.seqnum, h.length, h.packets)
			}
			data = data[:0]
			if h.direction == dirOut && h.length > 0 {
				data = append(data, make([]byte, h.length)...)
				if _, err := io.ReadFull(s.conn, data); err != nil {
					return err
				}
			}
			if err := s.submit(h, data); err != nil {
				return err
			}
		case cmdUnlink:
			if err := s.unlink(h); err != nil {
				return err
			}
		default:
			return fmt.Errorf("uvcsim: usbip: unknown command %#x", h.command)
		}
	}
}

func (s *Session) submit(h header, data []byte) error {
	s.mu.Lock()
	if !s.submitted || int32(h.seqnum-s.maxSubmit) > 0 {
		s.maxSubmit, s.submitted = h.seqnum, true
	}
	if u, ok := s.early[h.seqnum]; ok {
		delete(s.early, h.seqnum)
		err := s.write(appendRetUnlink(s.wbuf[:0], u, -errnoCONNRESET))
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	switch {
	case h.ep == 0:
		s.controls.Add(1)
		setup := ParseSetup(h.setup)
		var out []byte
		var err error
		if setup.In() != (h.direction == dirIn) {
			err = fmt.Errorf("%w: setup direction disagrees with the URB's", ErrStall)
		} else {
			out, err = s.cam.Control(setup, data)
		}
		if len(out) > int(h.length) {
			out = out[:h.length]
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.stalls.Add(1)
			s.log.Debug("control stalled", "setup", fmt.Sprintf("%x", h.setup), "err", err)
			return s.write(appendRetSubmit(s.wbuf[:0], h.seqnum, -errnoPIPE, 0))
		}
		actual := len(out)
		if h.direction == dirOut {
			actual = len(data)
		}
		b := appendRetSubmit(s.wbuf[:0], h.seqnum, 0, actual)
		if h.direction == dirIn {
			b = append(b, out...)
		}
		err = s.write(b)
		s.wake() // a commit or a stop changes what the streamer does
		return err
	case h.ep == EndpointIn&0x0f && h.direction == dirIn:
		s.urbs.Add(1)
		s.mu.Lock()
		s.pending = append(s.pending, urb{seqnum: h.seqnum, length: int(h.length)})
		s.mu.Unlock()
		s.wake()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(appendRetSubmit(s.wbuf[:0], h.seqnum, -errnoPIPE, 0))
}

func (s *Session) unlink(h header) error {
	s.unlinks.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.submitted || int32(h.unlinkSeq-s.maxSubmit) > 0 { // its submit is still on the way
		if s.early == nil {
			s.early = map[uint32]uint32{}
		}
		if len(s.early) >= 1024 {
			return fmt.Errorf("uvcsim: usbip: %d unlinks of URBs never submitted", len(s.early))
		}
		s.early[h.unlinkSeq] = h.seqnum
		return nil
	}
	status := int32(0) // already answered
	for i, u := range s.pending {
		if u.seqnum == h.unlinkSeq {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			status = -errnoCONNRESET
			break
		}
	}
	return s.write(appendRetUnlink(s.wbuf[:0], h.seqnum, status))
}

// write sends b; s.mu must be held. It keeps b as the next scratch buffer.
func (s *Session) write(b []byte) error {
	s.wbuf = b[:0]
	_, err := s.conn.Write(b)
	return err
}

// stream answers bulk IN URBs with payloads while the camera streams.
func (s *Session) stream() {
	var (
		gen     uint64
		format  Negotiated
		pl      = newPayloader(s.cam.Config().MaxPayload)
		n       uint64 // number of the next frame
		due     time.Time
		timer   *time.Timer
		scratch []byte
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	wait := func(d time.Duration) bool { // false when the session ended
		var tc <-chan time.Time
		if d > 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tc = timer.C
			defer timer.Stop()
		}
		select {
		case <-s.done:
			return false
		case <-s.kick:
		case <-tc:
		}
		return true
	}
	for {
		select {
		case <-s.done:
			return
		default:
		}
		st := s.cam.State()
		if !st.Streaming {
			// Queued URBs stay queued: the host unlinks them (usb_kill_urb).
			pl.reset()
			if !wait(0) {
				return
			}
			continue
		}
		if st.Gen != gen { // a new commit: a new stream
			gen, format = st.Gen, st.Format
			pl.reset()
			n, due = 0, s.now()
			s.log.Debug("streaming", "format", format.String())
		}
		if !pl.pending() {
			now := s.now()
			if d := due.Sub(now); d > 0 {
				if !wait(d) {
					return
				}
				continue
			}
			if p := format.Period(); p > 0 {
				if late := now.Sub(due); late >= p {
					skip := uint64(late / p)
					n += skip
					due = due.Add(time.Duration(skip) * p)
					s.skipped.Add(skip)
				}
				due = due.Add(p)
			}
			data := s.frames.Frame(format, n, now)
			n++
			if len(data) == 0 {
				continue
			}
			pl.load(data)
		}
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.mu.Unlock()
			if !wait(0) {
				return
			}
			continue
		}
		u := s.pending[0]
		s.pending = s.pending[1:]
		var done bool
		scratch, done = pl.next(scratch, u.length)
		b := appendRetSubmit(s.wbuf[:0], u.seqnum, 0, len(scratch))
		b = append(b, scratch...)
		err := s.write(b)
		s.mu.Unlock()
		if err != nil {
			s.shutdown(err)
			return
		}
		if done {
			s.sent.Add(1)
		}
	}
}
