// SPDX-License-Identifier: Apache-2.0

//go:build vm && linux && cgo

package h264vm

// #include <linux/videodev2.h>
import "C"

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Loopback is the writing side of a v4l2loopback device: what a camera's
// driver would fill, one access unit per buffer.
type Loopback struct{ fd int }

// OpenLoopback opens dev for writing H.264 (V4L2_PIX_FMT_H264) frames of
// w x h at fps.
func OpenLoopback(dev string, w, h, fps int) (*Loopback, error) {
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dev, err)
	}
	l := &Loopback{fd: fd}
	var f C.struct_v4l2_format
	f._type = C.V4L2_BUF_TYPE_VIDEO_OUTPUT
	pf := (*C.struct_v4l2_pix_format)(unsafe.Pointer(&f.fmt[0]))
	pf.width, pf.height = C.__u32(w), C.__u32(h)
	pf.pixelformat = C.V4L2_PIX_FMT_H264
	pf.field = C.V4L2_FIELD_NONE
	pf.sizeimage = C.__u32(w * h * 2)
	if err := l.ioctl(C.VIDIOC_S_FMT, unsafe.Pointer(&f)); err != nil {
		l.Close()
		return nil, fmt.Errorf("%s: set output format: %w", dev, err)
	}
	if got := uint32(pf.pixelformat); got != C.V4L2_PIX_FMT_H264 {
		l.Close()
		return nil, fmt.Errorf("%s: driver set pixel format %#x, not H.264", dev, got)
	}
	var p C.struct_v4l2_streamparm
	p._type = C.V4L2_BUF_TYPE_VIDEO_OUTPUT
	op := (*C.struct_v4l2_outputparm)(unsafe.Pointer(&p.parm[0]))
	op.timeperframe.numerator, op.timeperframe.denominator = 1, C.__u32(fps)
	if err := l.ioctl(C.VIDIOC_S_PARM, unsafe.Pointer(&p)); err != nil {
		l.Close()
		return nil, fmt.Errorf("%s: set frame rate: %w", dev, err)
	}
	return l, nil
}

func (l *Loopback) ioctl(req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), req, uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// Write writes one frame (one buffer of the capture side).
func (l *Loopback) Write(au []byte) error {
	n, err := unix.Write(l.fd, au)
	if err != nil {
		return err
	}
	if n != len(au) {
		return fmt.Errorf("short write: %d of %d bytes", n, len(au))
	}
	return nil
}

// Close closes the device.
func (l *Loopback) Close() error { return unix.Close(l.fd) }
