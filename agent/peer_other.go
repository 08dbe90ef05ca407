// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package agent

import "net"

// peerName cannot ask the kernel for peer credentials on this platform.
func peerName(net.Conn) string { return "unknown peer (no SO_PEERCRED on this platform)" }
