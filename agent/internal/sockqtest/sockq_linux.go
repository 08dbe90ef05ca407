// SPDX-License-Identifier: Apache-2.0

package sockqtest

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Unsent is the number of bytes in c's send queue that the peer has not
// acknowledged (SIOCOUTQ); 0 once c is closed.
func Unsent(t testing.TB, c syscall.Conn) int {
	t.Helper()
	return ioctlInt(t, c, unix.SIOCOUTQ)
}

// Unread is the number of bytes in c's receive queue that the application
// has not read (SIOCINQ); 0 once c is closed.
func Unread(t testing.TB, c syscall.Conn) int {
	t.Helper()
	return ioctlInt(t, c, unix.SIOCINQ)
}

// Established reports whether the kernel's TCP state of c is
// ESTABLISHED; false once c is closed or the connection was reset.
func Established(t testing.TB, c syscall.Conn) bool {
	t.Helper()
	var st uint8
	var serr error
	if !control(t, c, func(fd int) {
		var ti *unix.TCPInfo
		if ti, serr = unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); serr == nil {
			st = ti.State
		}
	}) {
		return false
	}
	if serr != nil {
		t.Fatalf("TCP_INFO: %v", serr)
	}
	return st == unix.BPF_TCP_ESTABLISHED
}

func ioctlInt(t testing.TB, c syscall.Conn, req uint) int {
	t.Helper()
	var v int
	var ierr error
	if !control(t, c, func(fd int) { v, ierr = unix.IoctlGetInt(fd, req) }) {
		return 0
	}
	if ierr != nil {
		t.Fatalf("ioctl %#x: %v", req, ierr)
	}
	return v
}

// control runs f on c's file descriptor; false if c is closed.
func control(t testing.TB, c syscall.Conn, f func(fd int)) bool {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc.Control(func(fd uintptr) { f(int(fd)) }) == nil
}
