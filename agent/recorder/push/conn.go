// SPDX-License-Identifier: Apache-2.0

package push

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// errCut is returned by writes on a connection that a privacy cut closed.
var errCut = errors.New("push: connection closed by a privacy cut")

// pubConn is the publishing connection as gortsplib and the sender see it:
// TLS (or, on loopback only, plaintext) over one TCP connection. Every
// Write is whole (an RTSP message or one access unit's frames), so the
// sender and gortsplib's own requests never interleave; and kill closes the
// TCP connection at once with SO_LINGER 0, so the kernel discards what is
// still in its send buffer and sends a reset instead of flushing it.
type pubConn struct {
	net.Conn              // *tls.Conn over raw, or raw
	raw      *net.TCPConn // the socket
	wmu      sync.Mutex
	cut      atomic.Bool
	sent     atomic.Uint64 // bytes written (above TLS)
}

func (c *pubConn) Write(b []byte) (int, error) {
	if c.cut.Load() {
		return 0, errCut
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.cut.Load() {
		return 0, errCut
	}
	n, err := c.Conn.Write(b)
	c.sent.Add(uint64(n))
	return n, err
}

// kill closes the socket now and discards unsent bytes. It does not wait
// for a write in progress (that write fails: the socket is gone); it
// returns once the descriptor is closed.
func (c *pubConn) kill() {
	if c.cut.Swap(true) {
		return
	}
	_ = c.raw.SetLinger(0)
	_ = c.raw.Close()
}

// Close is gortsplib's close: the same abortive close. A session is only
// ever closed because it ended, failed or was cut; nothing queued is owed
// to the hub then.
func (c *pubConn) Close() error {
	c.kill()
	return nil
}
