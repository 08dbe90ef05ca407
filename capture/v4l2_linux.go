// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package capture

// #include <linux/videodev2.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The V4L2 source owns its ioctls and its streaming loop. go4vl v0.5.0 was
// evaluated (see docs/perf.md, "Capture loop"): its device loop copies (allocates)
// every frame, waits with select(2) in a second goroutine, drops errors on a
// full channel, and its v4l2 package flattens ENODEV, EIO and ENXIO into one
// "system error". Its v4l2 package also needs kernel headers of Linux 6.3
// or later (V4L2_PIX_FMT_P012, V4L2_PIX_FMT_AV1_FRAME), which Debian
// bookworm and Raspberry Pi OS do not ship, so linking it would break every
// cgo build on those systems. The handful of ioctls below keep errno,
// allocate nothing per frame and build against the 6.1 headers.

// V4L2 is a V4L2 capture device. NewV4L2 does not open the device: only
// Stream does, so a node whose zone forbids capture never opens it.
type V4L2 struct {
	cfg V4L2Config

	mu    sync.Mutex
	audio string // what the last Stream found about audio inputs

	// IDR requests (RequestKeyframe): canKey while a stream of a device
	// with V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME runs; wantKey is served by
	// the streaming loop, which owns the fd.
	canKey, wantKey atomic.Bool
	keysAsked       atomic.Uint64
}

// RequestKeyframe asks the camera for an IDR on its next frame, through
// V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME (set by the streaming loop at its
// next frame). It reports whether the streaming device has that control:
// false means it cannot be asked, and the next IDR comes when the camera
// sends it (UVC webcams: at their own keyframe interval).
func (v *V4L2) RequestKeyframe() bool {
	if !v.canKey.Load() {
		return false
	}
	v.wantKey.Store(true)
	return true
}

// KeyframesAsked counts the IDR requests sent to the device.
func (v *V4L2) KeyframesAsked() uint64 { return v.keysAsked.Load() }

// NewV4L2 validates cfg. It does not touch the device.
func NewV4L2(cfg V4L2Config) (*V4L2, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &V4L2{cfg: c}, nil
}

// AudioStatus reports what the last Stream found about the device's audio
// inputs: "" when the device has none, else what was done about them.
func (v *V4L2) AudioStatus() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.audio
}

// Stream implements Source.
func (v *V4L2) Stream(ctx context.Context, sink Sink) (err error) {
	if ctx.Err() != nil {
		return nil
	}
	s := &v4l2Stream{cfg: v.cfg, log: v.cfg.Logger, fd: -1, efd: -1, owner: v}
	defer func() {
		if p := recover(); p != nil {
			err = errors.Join(err, fmt.Errorf("capture: V4L2 %s: panic: %v", v.cfg.Device, p))
		}
		if cerr := s.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := s.open(); err != nil {
		return err
	}
	if a := s.audioGuard(); a != "" {
		v.mu.Lock()
		v.audio = a
		v.mu.Unlock()
	}
	if err := s.negotiate(); err != nil {
		return err
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	sink.Started(s.format)
	s.log.Info("streaming", "device", s.cfg.Device, "format", s.format.String(), "buffers", len(s.mem))
	return s.loop(sink)
}

// Probe opens the device, reads what it is and which formats it offers,
// negotiates as Stream would (the driver's answer, read back), applies the
// audio guard, and closes it again without streaming. It is what
// `camnode check` shows an installer; the agent never calls it.
func (v *V4L2) Probe() (info ProbeInfo, err error) {
	s := &v4l2Stream{cfg: v.cfg, log: v.cfg.Logger, fd: -1, efd: -1}
	defer func() {
		if cerr := s.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := s.open(); err != nil {
		return info, err
	}
	info = ProbeInfo{Driver: s.driver, Card: s.card, Bus: s.bus, Audio: s.audioGuard()}
	err = s.negotiate()
	for _, c := range s.offered {
		info.Offered = append(info.Offered, fourccString(c))
	}
	info.Modes = s.modes
	if err != nil {
		return info, err
	}
	info.Choice, info.Reason = s.choice, s.reason
	info.Format = s.format
	return info, nil
}

// v4l2Stream is one Stream call: everything it opened, for close.
type v4l2Stream struct {
	cfg   V4L2Config
	log   *slog.Logger
	owner *V4L2 // nil for Probe

	fd        int
	efd       int // eventfd written when ctx is done
	stopWake  func() bool
	wakeDone  chan struct{}
	mem       [][]byte
	streaming bool
	lost      bool // the device is gone: STREAMOFF errors are expected

	format  Format
	code    uint32
	caps    uint32        // device capabilities
	offered []uint32      // pixel formats the driver lists, in its order
	modes   []FormatOffer // what the driver offers, by size and rate
	choice  Choice
	reason  string

	driver, card, bus string // from VIDIOC_QUERYCAP
	stride            int    // bytes per line of the first plane
	packed            []byte // repack buffer when the driver pads rows

	// Per-frame state, kept here so the loop allocates nothing.
	buf   C.struct_v4l2_buffer
	pfd   [2]unix.PollFd
	mono  unix.Timespec
	frame Frame
	seq   seqCounter

	frames  uint64
	skipped uint64 // ready frames requeued unread because a newer one was ready
	errored uint64
}

func (s *v4l2Stream) errf(op string, err error) error {
	if isLost(err) {
		s.lost = true
		return fmt.Errorf("capture: V4L2 %s: %s: %w: %w", s.cfg.Device, op, ErrLost, err)
	}
	return fmt.Errorf("capture: V4L2 %s: %s: %w", s.cfg.Device, op, err)
}

// isLost reports whether err means the device went away or failed.
func isLost(err error) bool {
	for _, e := range []error{unix.ENODEV, unix.ENXIO, unix.ENOENT, unix.EIO, unix.ESHUTDOWN, unix.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *v4l2Stream) ioctl(req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

func (s *v4l2Stream) open() error {
	path := s.cfg.Device
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		s.log.Debug("device link", "path", path, "target", real)
	}
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return s.errf("open", err)
		}
		s.fd = fd
		break
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return s.errf("eventfd", err)
	}
	s.efd = efd
	var st unix.Stat_t
	if err := unix.Fstat(s.fd, &st); err != nil {
		return s.errf("stat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return s.errf("open", errors.New("not a character device"))
	}
	var caps C.struct_v4l2_capability
	if err := s.ioctl(C.VIDIOC_QUERYCAP, unsafe.Pointer(&caps)); err != nil {
		return s.errf("query capabilities", err)
	}
	c := uint32(caps.capabilities)
	if c&C.V4L2_CAP_DEVICE_CAPS != 0 {
		c = uint32(caps.device_caps)
	}
	s.caps = c
	card := C.GoString((*C.char)(unsafe.Pointer(&caps.card[0])))
	driver := C.GoString((*C.char)(unsafe.Pointer(&caps.driver[0])))
	s.driver, s.card, s.bus = driver, card, C.GoString((*C.char)(unsafe.Pointer(&caps.bus_info[0])))
	if c&C.V4L2_CAP_VIDEO_CAPTURE == 0 {
		return s.errf("open", fmt.Errorf("%s (%s) is not a single-planar video capture device (caps %#x)", card, driver, c))
	}
	if c&C.V4L2_CAP_STREAMING == 0 {
		return s.errf("open", fmt.Errorf("%s (%s) does not support streaming I/O", card, driver))
	}
	s.log.Debug("opened", "device", path, "driver", driver, "card", card, "caps", fmt.Sprintf("%#x", c))
	return nil
}

// audioGuard mutes the device's audio when it reports V4L2_CAP_AUDIO. It
// returns what it found and did ("" when the device has no audio).
func (s *v4l2Stream) audioGuard() string {
	if s.caps&C.V4L2_CAP_AUDIO == 0 {
		return ""
	}
	var q C.struct_v4l2_queryctrl
	q.id = C.V4L2_CID_AUDIO_MUTE
	if err := s.ioctl(C.VIDIOC_QUERYCTRL, unsafe.Pointer(&q)); err != nil || q.flags&C.V4L2_CTRL_FLAG_DISABLED != 0 {
		s.log.Warn("camera reports audio inputs and has no mute control; camnode never reads audio", "device", s.cfg.Device)
		return "audio inputs, no mute control"
	}
	var c C.struct_v4l2_control
	c.id, c.value = C.V4L2_CID_AUDIO_MUTE, 1
	if err := s.ioctl(C.VIDIOC_S_CTRL, unsafe.Pointer(&c)); err != nil {
		s.log.Warn("camera reports audio inputs; muting failed", "device", s.cfg.Device, "err", err)
		return "audio inputs, mute failed: " + err.Error()
	}
	s.log.Warn("camera reports audio inputs; muted", "device", s.cfg.Device)
	return "audio inputs, muted"
}

func (s *v4l2Stream) negotiate() error {
	s.offered = s.offered[:0]
	for i := range 256 {
		var d C.struct_v4l2_fmtdesc
		d.index = C.__u32(i)
		d._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
		if err := s.ioctl(C.VIDIOC_ENUM_FMT, unsafe.Pointer(&d)); err != nil {
			if err == unix.EINVAL {
				break // end of the list
			}
			return s.errf("list formats", err)
		}
		s.offered = append(s.offered, uint32(d.pixelformat))
	}
	s.modes = s.enumModes()
	choice, reason, err := Choose(s.modes, Want{Width: s.cfg.Width, Height: s.cfg.Height, FPS: s.cfg.FPS,
		Allowed: s.cfg.Formats}, s.cfg.capabilities())
	if err != nil {
		return fmt.Errorf("capture: V4L2 %s: %w", s.cfg.Device, err)
	}
	s.choice, s.reason = choice, reason
	s.log.Info("format chosen", "device", s.cfg.Device, "choice", choice.String(), "why", reason)
	pix, code, err := pickFormat([]PixelFormat{choice.Pixel}, s.offered)
	if err != nil {
		return err
	}
	var f C.struct_v4l2_format
	f._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
	if err := s.ioctl(C.VIDIOC_G_FMT, unsafe.Pointer(&f)); err != nil {
		return s.errf("get format", err)
	}
	pf := (*C.struct_v4l2_pix_format)(unsafe.Pointer(&f.fmt[0]))
	pf.pixelformat = C.__u32(code)
	if choice.Width > 0 && choice.Height > 0 {
		pf.width, pf.height = C.__u32(choice.Width), C.__u32(choice.Height)
	} else if s.cfg.Width > 0 && s.cfg.Height > 0 {
		pf.width, pf.height = C.__u32(s.cfg.Width), C.__u32(s.cfg.Height)
	}
	wantW, wantH := uint32(pf.width), uint32(pf.height)
	pf.field = C.V4L2_FIELD_NONE
	pf.bytesperline, pf.sizeimage = 0, 0
	if err := s.ioctl(C.VIDIOC_S_FMT, unsafe.Pointer(&f)); err != nil {
		return s.errf("set format", err)
	}
	f = C.struct_v4l2_format{}
	f._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
	if err := s.ioctl(C.VIDIOC_G_FMT, unsafe.Pointer(&f)); err != nil {
		return s.errf("get format", err)
	}
	pf = (*C.struct_v4l2_pix_format)(unsafe.Pointer(&f.fmt[0]))
	if uint32(pf.pixelformat) != code {
		return s.errf("set format", fmt.Errorf("asked for %s, driver set %s", fourccString(code), fourccString(uint32(pf.pixelformat))))
	}
	s.code = code
	s.format = Format{Width: int(pf.width), Height: int(pf.height), Pixel: pix}
	s.stride = int(pf.bytesperline)
	if ps := packedStride(pix, s.format.Width); ps > 0 {
		if s.stride < ps {
			s.stride = ps
		}
		if s.stride != ps {
			s.packed = make([]byte, 0, s.format.FrameSize())
		}
	}
	if uint32(pf.width) != wantW || uint32(pf.height) != wantH {
		s.log.Info("driver changed the size", "asked", fmt.Sprintf("%dx%d", wantW, wantH), "set", fmt.Sprintf("%dx%d", pf.width, pf.height))
	}

	// Frame rate: ask, then read back what the driver really set.
	var p C.struct_v4l2_streamparm
	p._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
	if err := s.ioctl(C.VIDIOC_G_PARM, unsafe.Pointer(&p)); err != nil {
		s.log.Debug("no stream parameters", "err", err)
		return nil
	}
	cp := (*C.struct_v4l2_captureparm)(unsafe.Pointer(&p.parm[0]))
	if s.cfg.FPS > 0 && cp.capability&C.V4L2_CAP_TIMEPERFRAME != 0 {
		fps := s.cfg.FPS
		if choice.FPS > 0 && choice.FPS < float64(fps) {
			fps = max(1, int(choice.FPS)) // the fastest the chosen mode offers
		}
		cp.timeperframe.numerator, cp.timeperframe.denominator = 1, C.__u32(fps)
		if err := s.ioctl(C.VIDIOC_S_PARM, unsafe.Pointer(&p)); err != nil {
			s.log.Warn("could not set frame rate", "fps", s.cfg.FPS, "err", err)
		}
		p = C.struct_v4l2_streamparm{}
		p._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
		if err := s.ioctl(C.VIDIOC_G_PARM, unsafe.Pointer(&p)); err != nil {
			return s.errf("get stream parameters", err)
		}
		cp = (*C.struct_v4l2_captureparm)(unsafe.Pointer(&p.parm[0]))
	}
	if n, d := uint32(cp.timeperframe.numerator), uint32(cp.timeperframe.denominator); n > 0 && d > 0 {
		s.format.FPSNum, s.format.FPSDen = int(d), int(n)
	}
	return nil
}

func (s *v4l2Stream) start(ctx context.Context) error {
	var req C.struct_v4l2_requestbuffers
	req.count = C.__u32(s.cfg.Buffers)
	req._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
	req.memory = C.V4L2_MEMORY_MMAP
	if err := s.ioctl(C.VIDIOC_REQBUFS, unsafe.Pointer(&req)); err != nil {
		return s.errf("request buffers", err)
	}
	if req.count < 2 {
		return s.errf("request buffers", fmt.Errorf("driver gave %d buffers", req.count))
	}
	for i := range int(req.count) {
		s.buf = C.struct_v4l2_buffer{}
		s.buf.index = C.__u32(i)
		s.buf._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
		s.buf.memory = C.V4L2_MEMORY_MMAP
		if err := s.ioctl(C.VIDIOC_QUERYBUF, unsafe.Pointer(&s.buf)); err != nil {
			return s.errf("query buffer", err)
		}
		off := *(*C.__u32)(unsafe.Pointer(&s.buf.m[0]))
		m, err := unix.Mmap(s.fd, int64(off), int(s.buf.length), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return s.errf("mmap", err)
		}
		s.mem = append(s.mem, m)
	}
	for i := range s.mem {
		if err := s.qbuf(uint32(i)); err != nil {
			return err
		}
	}

	// Cancellation wakes poll(2) through the eventfd: no polling interval,
	// no goroutine of our own.
	s.wakeDone = make(chan struct{})
	efd := s.efd
	s.stopWake = context.AfterFunc(ctx, func() {
		defer close(s.wakeDone)
		one := [8]byte{1}
		_, _ = unix.Write(efd, one[:])
	})

	typ := C.__u32(C.V4L2_BUF_TYPE_VIDEO_CAPTURE)
	if err := s.ioctl(C.VIDIOC_STREAMON, unsafe.Pointer(&typ)); err != nil {
		return s.errf("stream on", err)
	}
	s.streaming = true
	s.frame.Format = s.format
	if s.owner != nil && s.format.Pixel == H264 {
		var q C.struct_v4l2_queryctrl
		q.id = C.V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME
		if err := s.ioctl(C.VIDIOC_QUERYCTRL, unsafe.Pointer(&q)); err == nil && q.flags&C.V4L2_CTRL_FLAG_DISABLED == 0 {
			s.owner.canKey.Store(true)
		}
		s.log.Info("IDR on request", "device", s.cfg.Device, "force_key_frame", s.owner.canKey.Load())
	}
	s.pfd = [2]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(s.efd), Events: unix.POLLIN}}
	return nil
}

func (s *v4l2Stream) qbuf(i uint32) error {
	s.buf = C.struct_v4l2_buffer{}
	s.buf.index = C.__u32(i)
	s.buf._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
	s.buf.memory = C.V4L2_MEMORY_MMAP
	if err := s.ioctl(C.VIDIOC_QBUF, unsafe.Pointer(&s.buf)); err != nil {
		return s.errf("queue buffer", err)
	}
	return nil
}

// dqbuf dequeues one buffer into s.buf. It returns unix.EAGAIN (unwrapped)
// when none is ready.
func (s *v4l2Stream) dqbuf() error {
	s.buf = C.struct_v4l2_buffer{}
	s.buf._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
	s.buf.memory = C.V4L2_MEMORY_MMAP
	err := s.ioctl(C.VIDIOC_DQBUF, unsafe.Pointer(&s.buf))
	if err == unix.EAGAIN {
		return err
	}
	if err != nil {
		return s.errf("dequeue buffer", err)
	}
	if int(s.buf.index) >= len(s.mem) {
		return s.errf("dequeue buffer", fmt.Errorf("driver returned buffer %d of %d", s.buf.index, len(s.mem)))
	}
	return nil
}

// dequeued is what the loop keeps of a dequeued buffer.
type dequeued struct {
	index, used, flags, seq uint32
	sec, usec               int64
}

// dequeued is the buffer the last VIDIOC_DQBUF returned.
func (s *v4l2Stream) dequeued() dequeued {
	return dequeued{index: uint32(s.buf.index), used: uint32(s.buf.bytesused), flags: uint32(s.buf.flags),
		seq: uint32(s.buf.sequence), sec: int64(s.buf.timestamp.tv_sec), usec: int64(s.buf.timestamp.tv_usec)}
}

// loop streams until ctx is done (nil) or the device fails (an error).
// Every error it returns after a removal wraps ErrLost: see gone.
func (s *v4l2Stream) loop(sink Sink) error {
	err := s.stream(sink)
	if err != nil && !errors.Is(err, ErrLost) && s.gone() {
		s.lost = true
		err = fmt.Errorf("%w: %w", ErrLost, err)
	}
	return err
}

// gone asks the driver whether the device is still there. After a removal
// (USB unplug, vivid's disconnect) the V4L2 core answers every ioctl with
// ENODEV, whatever DQBUF or QBUF said first (EINVAL, EAGAIN, a stall):
// so an error from the loop is classified by the device's state, not by
// which call happened to notice first.
func (s *v4l2Stream) gone() bool {
	var caps C.struct_v4l2_capability
	err := s.ioctl(C.VIDIOC_QUERYCAP, unsafe.Pointer(&caps))
	return err != nil && isLost(err)
}

func (s *v4l2Stream) stream(sink Sink) error {
	stallMS := int(s.cfg.StallTimeout / time.Millisecond)
	pollMS := min(stallMS, 1000)
	last := time.Now()
	for {
		n, err := unix.Poll(s.pfd[:], pollMS)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return s.errf("poll", err)
		}
		if s.pfd[1].Revents != 0 {
			return nil // ctx done
		}
		if n == 0 {
			if time.Since(last) >= s.cfg.StallTimeout {
				return s.errf("wait for frame", fmt.Errorf("no frame for %v: %w", s.cfg.StallTimeout, unix.ETIMEDOUT))
			}
			continue
		}
		re := s.pfd[0].Revents
		if re&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && re&unix.POLLIN == 0 {
			// Ask the driver why; vivid and uvcvideo answer ENODEV.
			if err := s.dqbuf(); err != nil && err != unix.EAGAIN {
				if !errors.Is(err, ErrLost) {
					err = fmt.Errorf("%w: %w", ErrLost, err)
				}
				s.lost = true
				return err
			}
			s.lost = true
			return s.errf("poll", fmt.Errorf("%w: revents %#x", ErrLost, re))
		}
		if s.format.Pixel == H264 {
			// Every access unit, in order: later ones refer to the
			// earlier (newest-wins would break the references).
			if err := s.drainAll(sink); err != nil {
				return err
			}
			last = time.Now()
			continue
		}
		// Newest frame wins: drain every ready buffer, requeue all but
		// the newest at once.
		var newest dequeued
		have := false
		for {
			err := s.dqbuf()
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				return err
			}
			if uint32(s.buf.flags)&C.V4L2_BUF_FLAG_ERROR != 0 {
				s.errored++
				if err := s.qbuf(uint32(s.buf.index)); err != nil {
					return err
				}
				continue
			}
			cur := s.dequeued()
			if have {
				s.skipped++
				if err := s.qbuf(newest.index); err != nil { // overwrites s.buf
					return err
				}
			}
			have, newest = true, cur
		}
		if !have {
			continue
		}
		last = time.Now()
		s.deliver(sink, newest, last)
		if err := s.qbuf(newest.index); err != nil {
			return err
		}
	}
}

// drainAll delivers every ready buffer in order (compressed streams whose
// frames refer to each other), then serves an IDR request.
func (s *v4l2Stream) drainAll(sink Sink) error {
	for {
		err := s.dqbuf()
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			return err
		}
		d := s.dequeued()
		if d.flags&C.V4L2_BUF_FLAG_ERROR != 0 {
			s.errored++
		} else {
			s.deliver(sink, d, time.Now())
		}
		if err := s.qbuf(d.index); err != nil {
			return err
		}
	}
	if s.owner != nil && s.owner.canKey.Load() && s.owner.wantKey.Swap(false) {
		var c C.struct_v4l2_control
		c.id, c.value = C.V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, 1
		if err := s.ioctl(C.VIDIOC_S_CTRL, unsafe.Pointer(&c)); err != nil {
			if isLost(err) {
				return s.errf("force key frame", err)
			}
			s.log.Warn("could not ask for an IDR", "device", s.cfg.Device, "err", err)
		} else {
			s.owner.keysAsked.Add(1)
		}
	}
	return nil
}

func (s *v4l2Stream) deliver(sink Sink, d dequeued, now time.Time) {
	mem := s.mem[d.index]
	used := min(int(d.used), len(mem))
	data := mem[:used]
	if size := s.format.FrameSize(); size > 0 {
		switch {
		case s.packed != nil:
			var ok bool
			if s.packed, ok = repack(s.packed, data, s.format, s.stride); !ok {
				s.errored++
				return
			}
			data = s.packed
		case used < size:
			s.errored++
			return
		default:
			data = data[:size]
		}
	}
	f := &s.frame
	f.Data = data
	f.Seq = s.seq.next(d.seq)
	f.Dropped = s.seq.dropped
	f.Time = now
	if d.flags&C.V4L2_BUF_FLAG_TIMESTAMP_MASK == C.V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC {
		if unix.ClockGettime(unix.CLOCK_MONOTONIC, &s.mono) == nil {
			age := time.Duration(s.mono.Nano() - (d.sec*1e9 + d.usec*1e3))
			if age >= 0 && age < time.Minute {
				f.Time = now.Add(-age)
			}
		}
	}
	switch s.format.Pixel {
	case H264:
		f.Key = d.flags&C.V4L2_BUF_FLAG_KEYFRAME != 0
	default:
		f.Key = true
	}
	s.frames++
	sink.Frame(f)
	f.Data = nil
}

// close stops streaming, unmaps and closes, whatever state Stream reached.
// Errors are reported only when the device was not already lost.
func (s *v4l2Stream) close() error {
	if s.owner != nil {
		s.owner.canKey.Store(false)
		s.owner.wantKey.Store(false)
	}
	var errs []error
	if s.streaming {
		typ := C.__u32(C.V4L2_BUF_TYPE_VIDEO_CAPTURE)
		if err := s.ioctl(C.VIDIOC_STREAMOFF, unsafe.Pointer(&typ)); err != nil && !s.lost {
			errs = append(errs, s.errf("stream off", err))
		}
		s.streaming = false
	}
	for _, m := range s.mem {
		if err := unix.Munmap(m); err != nil {
			errs = append(errs, s.errf("munmap", err))
		}
	}
	s.mem = nil
	if s.fd >= 0 {
		// Freeing the buffers lets another opener stream at once.
		var req C.struct_v4l2_requestbuffers
		req._type = C.V4L2_BUF_TYPE_VIDEO_CAPTURE
		req.memory = C.V4L2_MEMORY_MMAP
		_ = s.ioctl(C.VIDIOC_REQBUFS, unsafe.Pointer(&req))
		if err := unix.Close(s.fd); err != nil && !s.lost {
			errs = append(errs, s.errf("close", err))
		}
		s.fd = -1
	}
	if s.stopWake != nil && !s.stopWake() {
		<-s.wakeDone // the wake-up is writing to efd: let it finish first
	}
	if s.efd >= 0 {
		_ = unix.Close(s.efd)
		s.efd = -1
	}
	if s.frames > 0 || s.seq.dropped > 0 || s.errored > 0 {
		s.log.Info("stream ended", "device", s.cfg.Device, "frames", s.frames,
			"dropped", s.seq.dropped, "skipped_for_newest", s.skipped, "bad", s.errored)
	}
	return errors.Join(errs...)
}

var _ Source = (*V4L2)(nil)

// enumModes lists the modes the driver offers (VIDIOC_ENUM_FRAMESIZES and
// VIDIOC_ENUM_FRAMEINTERVALS for each known pixel format): one offer per
// discrete size with its highest rate. A driver that lists no sizes, or
// step-wise sizes, gives one offer of any size (0x0) for the format;
// a size without listed intervals has rate 0 (unknown).
func (s *v4l2Stream) enumModes() []FormatOffer {
	var out []FormatOffer
	for _, code := range s.offered {
		pix, ok := pixelOf(code)
		if !ok {
			out = append(out, FormatOffer{Pixel: PixelFormat(fourccString(code))})
			continue
		}
		n := 0
		for i := range 256 {
			var fs C.struct_v4l2_frmsizeenum
			fs.index, fs.pixel_format = C.__u32(i), C.__u32(code)
			if err := s.ioctl(C.VIDIOC_ENUM_FRAMESIZES, unsafe.Pointer(&fs)); err != nil {
				break
			}
			if fs._type != C.V4L2_FRMSIZE_TYPE_DISCRETE {
				break // step-wise or continuous: any size
			}
			d := (*C.struct_v4l2_frmsize_discrete)(unsafe.Pointer(&fs.anon0[0]))
			w, h := int(d.width), int(d.height)
			out = append(out, FormatOffer{Pixel: pix, Width: w, Height: h, FPS: s.maxFPS(code, w, h)})
			n++
		}
		if n == 0 {
			out = append(out, FormatOffer{Pixel: pix})
		}
	}
	return out
}

// maxFPS returns the highest frame rate the driver lists for a mode, or 0.
func (s *v4l2Stream) maxFPS(code uint32, w, h int) float64 {
	best := 0.0
	for i := range 64 {
		var fi C.struct_v4l2_frmivalenum
		fi.index, fi.pixel_format, fi.width, fi.height = C.__u32(i), C.__u32(code), C.__u32(w), C.__u32(h)
		if err := s.ioctl(C.VIDIOC_ENUM_FRAMEINTERVALS, unsafe.Pointer(&fi)); err != nil {
			break
		}
		// discrete, or the minimum of a step-wise range: both start
		// the union with a fraction.
		f := (*C.struct_v4l2_fract)(unsafe.Pointer(&fi.anon0[0]))
		if f.numerator > 0 {
			best = max(best, float64(f.denominator)/float64(f.numerator))
		}
		if fi._type != C.V4L2_FRMIVAL_TYPE_DISCRETE {
			break
		}
	}
	return best
}
