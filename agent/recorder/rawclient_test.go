// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
)

// countConn counts the bytes read from the socket (below TLS).
type countConn struct {
	*net.TCPConn
	n atomic.Int64
}

func (c *countConn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// rawClient is a hand-written RTSP client, so that a test controls when it
// reads: it can stop reading (the server's send buffer fills) and then
// read exactly what arrives.
type rawClient struct {
	raw  *countConn
	conn net.Conn // raw or TLS over raw
	br   *bufio.Reader
	url  string
	cseq int
	sess string
	// transport is SETUP's response Transport header.
	transport headers.Transport
	// Digest credentials, answered on every request once a challenge
	// was read (login).
	user, pass, nonce string
}

// dialRaw connects with a small receive buffer (so the server's send
// buffer fills quickly once the client stops reading), over TLS if tc is
// set.
func dialRaw(t testing.TB, addr string, tc *tls.Config) *rawClient {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := &countConn{TCPConn: c.(*net.TCPConn)}
	rc := &rawClient{raw: cc, conn: cc, url: "rtsp://" + addr + Path}
	if tc != nil {
		tl := tls.Client(cc, tc)
		if err := tl.Handshake(); err != nil {
			c.Close()
			t.Fatal(err)
		}
		rc.conn, rc.url = tl, "rtsps://"+addr+Path
	}
	rc.br = bufio.NewReaderSize(rc.conn, 4096)
	t.Cleanup(func() { rc.conn.Close() })
	return rc
}

// do sends one request and reads its response.
func (c *rawClient) do(t testing.TB, method base.Method, url string, h base.Header) *base.Response {
	t.Helper()
	c.cseq++
	if h == nil {
		h = base.Header{}
	}
	h["CSeq"] = base.HeaderValue{strconv.Itoa(c.cseq)}
	if c.sess != "" {
		h["Session"] = base.HeaderValue{c.sess}
	}
	if c.nonce != "" {
		ha1 := md5hex(c.user + ":" + Realm + ":" + c.pass)
		resp := md5hex(ha1 + ":" + c.nonce + ":" + md5hex(string(method)+":"+url))
		h["Authorization"] = base.HeaderValue{fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`,
			c.user, Realm, c.nonce, url, resp)}
	}
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base.Request{Method: method, URL: u, Header: h}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.conn.SetDeadline(time.Time{})
	if _, err := c.conn.Write(b); err != nil {
		t.Fatal(err)
	}
	var res base.Response
	if err := res.Unmarshal(c.br); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return &res
}

// play runs DESCRIBE, SETUP (TCP-interleaved, on channels 0-1 unless h
// has a Transport) and PLAY with header h on each request.
func (c *rawClient) play(t testing.TB, h base.Header) {
	t.Helper()
	if res := c.do(t, base.Describe, c.url, cloneHeader(h)); res.StatusCode != base.StatusOK {
		t.Fatalf("DESCRIBE: %d %s", res.StatusCode, res.StatusMessage)
	}
	sh := cloneHeader(h)
	if _, ok := sh["Transport"]; !ok {
		sh["Transport"] = base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}
	}
	res := c.do(t, base.Setup, c.url+"/trackID=0", sh)
	if res.StatusCode != base.StatusOK {
		t.Fatalf("SETUP: %d %s", res.StatusCode, res.StatusMessage)
	}
	if err := c.transport.Unmarshal(res.Header["Transport"]); err != nil {
		t.Fatalf("SETUP: Transport: %v", err)
	}
	sess := res.Header["Session"]
	if len(sess) != 1 {
		t.Fatalf("SETUP: no session: %v", res.Header)
	}
	c.sess = sess[0]
	for i, ch := range c.sess {
		if ch == ';' {
			c.sess = c.sess[:i]
			break
		}
	}
	if res := c.do(t, base.Play, c.url, cloneHeader(h)); res.StatusCode != base.StatusOK {
		t.Fatalf("PLAY: %d %s", res.StatusCode, res.StatusMessage)
	}
}

// frame reads the next interleaved frame.
func (c *rawClient) frame() (*base.InterleavedFrame, error) {
	var f base.InterleavedFrame
	if err := f.Unmarshal(c.br); err != nil {
		return nil, err
	}
	return &f, nil
}

func cloneHeader(h base.Header) base.Header {
	out := base.Header{}
	maps.Copy(out, h)
	return out
}

// login reads the server's Digest challenge; later requests answer it.
func (c *rawClient) login(t testing.TB, user, pass string) {
	t.Helper()
	res := c.do(t, base.Options, c.url, nil)
	if res.StatusCode != base.StatusOK {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}
	res = c.do(t, base.Describe, c.url, nil)
	if res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("DESCRIBE without credentials: %d %s, want 401", res.StatusCode, res.StatusMessage)
	}
	var a headers.Authenticate
	if err := a.Unmarshal(res.Header["WWW-Authenticate"]); err != nil {
		t.Fatalf("challenge %v: %v", res.Header["WWW-Authenticate"], err)
	}
	if a.Method != headers.AuthMethodDigest || a.Realm != Realm || a.Nonce == "" {
		t.Fatalf("challenge %v", res.Header["WWW-Authenticate"])
	}
	c.user, c.pass, c.nonce = user, pass, a.Nonce
}
