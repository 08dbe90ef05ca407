// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
)

// fakeListener is a listener that is never listened on: its address is
// what New checks, and Close is what New must call on failure.
type fakeListener struct {
	addr   net.Addr
	closed bool
}

func (l *fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l *fakeListener) Close() error              { l.closed = true; return nil }
func (l *fakeListener) Addr() net.Addr            { return l.addr }

// TestNewRefuses: a configuration New cannot serve is an error that says
// why, and the listener it was given is closed (no port left open).
func TestNewRefuses(t *testing.T) {
	ha1 := md5hex("vms:" + Realm + ":" + vmsPassword)
	lan := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 8554}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8554}
	for _, tc := range []struct {
		name string
		addr net.Addr
		tls  *tls.Config
		recs []Access
		want string
	}{
		{"plain off loopback", lan, nil, []Access{{Name: "vms", DigestHA1: ha1}}, "plain RTSP only on loopback"},
		{"no recorder", loop, nil, nil, "no named recorder"},
		{"no name", loop, nil, []Access{{DigestHA1: ha1}}, "has no name"},
		{"both credentials", loop, &tls.Config{}, []Access{{Name: "x", CertName: "x", DigestHA1: ha1}}, "exactly one"},
		{"certificate without TLS", loop, nil, []Access{{Name: "x", CertName: "x"}}, "needs TLS"},
		{"bad HA1", loop, nil, []Access{{Name: "x", DigestHA1: "secret"}}, "32 hex digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := &fakeListener{addr: tc.addr}
			_, err := New(Config{Listener: ln, TLS: tc.tls, Recorders: tc.recs, Pipeline: &fakePipe{}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if !ln.closed {
				t.Fatal("listener left open")
			}
		})
	}
}
