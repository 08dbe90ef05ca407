// SPDX-License-Identifier: Apache-2.0

//go:build linux

package agent

import (
	"fmt"
	"net"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// peerName names the process at the other end of a unix socket from the
// kernel's credentials (SO_PEERCRED): what the client claims is not used.
func peerName(c net.Conn) string {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return "unknown peer"
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "unknown peer"
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return "unknown peer"
	}
	name := strconv.Itoa(int(cred.Uid))
	if u, err := user.LookupId(name); err == nil {
		name += "(" + u.Username + ")"
	}
	return fmt.Sprintf("uid=%s pid=%d", name, cred.Pid)
}
