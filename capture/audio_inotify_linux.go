// SPDX-License-Identifier: Apache-2.0

//go:build linux

package capture

import (
	"context"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// devWake returns a channel that receives (coalesced) whenever an entry is
// created, removed or renamed in dir or in dir/snd, the directory ALSA's
// device nodes appear in. It watches dir for "snd" itself appearing (the
// first sound card creates it) and then watches that too. The reads go
// through the runtime's poller (os.NewFile on a non-blocking fd), so ctx's
// end closes the fd and the goroutine returns; nothing leaks.
func devWake(ctx context.Context, dir string) (<-chan struct{}, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
		unix.IN_DELETE_SELF | unix.IN_ONLYDIR
	top, err := unix.InotifyAddWatch(fd, dir, mask)
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	snd := filepath.Join(dir, "snd")
	watchSnd := func() {
		// ENOENT (no sound card ever seen) is the normal case.
		_, _ = unix.InotifyAddWatch(fd, snd, mask)
	}
	watchSnd()
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	wake := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close() // unblocks Read below
	}()
	go func() {
		defer close(wake)
		var buf [4096]byte
		for {
			n, err := f.Read(buf[:])
			if err != nil {
				// Closed at ctx's end, or the watch failed (an overflow
				// is an event, not an error): the poll remains.
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				end := off + unix.SizeofInotifyEvent + int(ev.Len)
				if end > n {
					break // the kernel reads whole events; never index past one
				}
				name := buf[off+unix.SizeofInotifyEvent : end]
				if ev.Wd == int32(top) && ev.Mask&unix.IN_CREATE != 0 && cstring(name) == "snd" {
					watchSnd()
				}
				off = end
			}
			select {
			case wake <- struct{}{}:
			default: // a wake-up is already pending: one scan covers both
			}
		}
	}()
	return wake, nil
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
