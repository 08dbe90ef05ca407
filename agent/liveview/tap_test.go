// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"net"
	"sync"
	"testing"

	"github.com/pion/ice/v4"
)

// tapConn is the viewer's UDP socket. While hold is set, it keeps SRTCP
// transport-feedback datagrams (RTPFB: NACKs) instead of sending them, so
// the test can put genuine, never-sent NACKs from the viewer's own address
// on the wire later, whatever state the viewer's pion stack is in by then.
type tapConn struct {
	net.PacketConn
	mu   sync.Mutex
	hold bool
	kept [][]byte
	peer net.Addr // where the viewer's media traffic goes (the node's UDP port)
	gone bool     // the viewer vanished: nothing it writes leaves any more
}

// vanish makes the viewer disappear from the network as a closed laptop
// does: its stack goes on, but nothing it sends arrives, and no DELETE.
func (c *tapConn) vanish() {
	c.mu.Lock()
	c.gone = true
	c.mu.Unlock()
}

func (c *tapConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return len(b), nil
	}
	c.peer = addr
	if c.hold && len(b) >= 8 && b[0]>>6 == 2 && b[1] == 205 { // RTCP v2, PT 205 (RTPFB)
		c.kept = append(c.kept, append([]byte(nil), b...))
		c.mu.Unlock()
		return len(b), nil
	}
	c.mu.Unlock()
	return c.PacketConn.WriteTo(b, addr)
}

// holdNACK has the viewer's pion stack build and encrypt a NACK for seqs
// and returns the SRTCP datagram(s) without sending them.
func (c *tapConn) holdNACK(t testing.TB, r *receiver, ssrc uint32, seqs []uint16) [][]byte {
	t.Helper()
	c.mu.Lock()
	c.hold, c.kept = true, nil
	c.mu.Unlock()
	err := r.nack(ssrc, seqs)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	if err != nil {
		t.Fatalf("building a NACK: %v", err)
	}
	if len(c.kept) == 0 {
		t.Fatal("the viewer wrote no RTPFB datagram for the NACK")
	}
	return c.kept
}

// send puts datagrams on the wire from the viewer's socket to the node.
func (c *tapConn) send(t testing.TB, dgrams [][]byte) {
	t.Helper()
	c.mu.Lock()
	peer := c.peer
	c.mu.Unlock()
	for _, d := range dgrams {
		if _, err := c.PacketConn.WriteTo(d, peer); err != nil {
			t.Fatalf("sending a held NACK to %v: %v", peer, err)
		}
	}
}

// newTapReceiver is newReceiver (no interceptors, SRTP replay protection
// off so retransmissions are visible) on a loopback socket the test taps.
func newTapReceiver(t testing.TB) (*receiver, *tapConn) {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapConn{PacketConn: udp}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: tap})
	t.Cleanup(func() { _ = mux.Close() })
	return buildReceiver(t, false, mux), tap
}
