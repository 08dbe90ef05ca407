// SPDX-License-Identifier: Apache-2.0

//go:build linux

package liveview

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/pion/ice/v4"

	"github.com/camnode/camnode/agent/recorder"
)

// inetSocket is one of this process's TCP or UDP sockets, from /proc/net.
type inetSocket struct {
	proto        string // tcp, tcp6, udp, udp6
	local, peer  int    // ports
	state        string // hex TCP state; 0A = LISTEN
	inode        string
	localAddrHex string
}

func (s inetSocket) String() string {
	return fmt.Sprintf("%s local :%d (%s) peer :%d state %s", s.proto, s.local, s.localAddrHex, s.peer, s.state)
}

// processSockets returns the TCP/UDP sockets this process holds open.
func processSockets(t *testing.T) []inetSocket {
	t.Helper()
	mine := map[string]bool{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []inetSocket
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open("/proc/self/net/" + proto)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 || !mine[fl[9]] {
				continue
			}
			s := inetSocket{proto: proto, state: fl[3], inode: fl[9]}
			s.localAddrHex, s.local = hexPort(fl[1])
			_, s.peer = hexPort(fl[2])
			out = append(out, s)
		}
		f.Close()
	}
	return out
}

func hexPort(addr string) (string, int) {
	a, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.ParseUint(p, 16, 16)
	return a, int(n)
}

// TestExposure: while two viewers watch and a recorder pulls the RTSP
// stream (a second output of the same pipeline), the node holds the HTTPS
// listener and its connections, UDP sockets on its one media port (one
// per local address of the configured interfaces), and the recorder
// port's TCP listener and connections, nothing else: no mDNS listener
// (5353), no per-session or per-candidate sockets, no STUN gatherer, no
// RTP/RTCP UDP ports for RTSP. After a privacy cut, the recorder port
// holds only its listener. (In a clinical zone the port is never opened:
// cmd/camnode TestRunRecorderZone.) The viewers and the recorder in this
// process each use known ports, so every new socket is accounted for by
// port.
func TestExposure(t *testing.T) {
	before := map[string]bool{}
	for _, s := range processSockets(t) {
		before[s.inode] = true
	}

	k := newKeys(t)
	s, n := newServer(t, k, nil)
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.StartTLS()
	t.Cleanup(ts.Close)
	_, hp, _ := net.SplitHostPort(ts.Listener.Addr().String())
	httpsPort, _ := strconv.Atoi(hp)
	var mediaPorts []int
	for _, a := range s.UDPAddrs() {
		_, p, _ := net.SplitHostPort(a)
		n, _ := strconv.Atoi(p)
		mediaPorts = append(mediaPorts, n)
	}
	slices.Sort(mediaPorts)
	if mediaPorts = slices.Compact(mediaPorts); len(mediaPorts) != 1 {
		t.Fatalf("media on ports %v, want one", mediaPorts)
	}

	gate := feedFrames(t, s, 320, 240)

	// The viewers' side: each on its own loopback port (two viewers behind
	// one ip:port would be one peer to the node's mux, too), known here.
	viewerPorts := map[int]bool{}
	client := ts.Client()
	for i := range 2 {
		mux, err := ice.NewMultiUDPMuxFromPort(0, ice.UDPMuxFromPortWithLoopback(),
			ice.UDPMuxFromPortWithInterfaceFilter(func(n string) bool { return n == "lo" }),
			ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = mux.Close() })
		for _, a := range mux.GetListenAddresses() {
			_, vp, _ := net.SplitHostPort(a.String())
			n, _ := strconv.Atoi(vp)
			viewerPorts[n] = true
		}
		r := buildReceiver(t, true, mux)
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/whep", strings.NewReader(r.offer(t)))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+k.mint(t, time.Now(), time.Minute))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("viewer %d: %d %s", i, resp.StatusCode, body)
		}
		r.answer(t, string(body))
		waitFor(t, r.connect, 10*time.Second, "connection")
		waitFor(t, r.ssrc, 10*time.Second, "media")
	}

	recPort, rec := startRecorder(t, s, n)
	waitCond(t, 10*time.Second, "recorder session", func() bool { return rec.Sessions() == 1 })

	check := func(state string, wantRecConns int) {
		t.Helper()
		var node, viewers, unexplained []string
		recConns := 0
		for _, sk := range processSockets(t) {
			if before[sk.inode] {
				continue
			}
			tcp := strings.HasPrefix(sk.proto, "tcp")
			switch {
			case tcp && sk.local == httpsPort: // the listener and its accepted connections
				node = append(node, sk.String())
			case tcp && sk.peer == httpsPort: // the viewers' HTTPS client
				viewers = append(viewers, sk.String())
			case !tcp && sk.local == mediaPorts[0]:
				node = append(node, sk.String())
			case !tcp && viewerPorts[sk.local]:
				viewers = append(viewers, sk.String())
			case tcp && sk.local == recPort: // the recorder listener and its connections
				node = append(node, sk.String())
				if sk.state == "01" { // ESTABLISHED
					recConns++
				}
			case tcp && sk.peer == recPort: // the test's recorder client
				viewers = append(viewers, sk.String())
			default:
				unexplained = append(unexplained, sk.String())
			}
		}
		t.Logf("%s: node (HTTPS :%d, media :%d, recorder :%d):\n  %s", state, httpsPort, mediaPorts[0], recPort, strings.Join(node, "\n  "))
		if len(unexplained) > 0 {
			t.Errorf("%s: sockets that are neither the HTTPS port, the media port, the recorder port nor the test's clients:\n  %s\nclients:\n  %s",
				state, strings.Join(unexplained, "\n  "), strings.Join(viewers, "\n  "))
		}
		listeners := 0
		for _, n := range node {
			if strings.Contains(n, "state 0A") {
				listeners++
			}
		}
		if listeners != 2 {
			t.Errorf("%s: %d TCP listeners, want 2 (HTTPS, recorder)", state, listeners)
		}
		if recConns != wantRecConns {
			t.Errorf("%s: %d connections on the recorder port, want %d", state, recConns, wantRecConns)
		}
	}
	check("viewing and recording", 1)

	gate.Lock()
	n.setPrivate(true)
	s.pipe.Cut()
	gate.Unlock()
	check("private", 0)
}

// startRecorder attaches the recorder stream (plain RTSP on loopback,
// Digest) to s's pipeline and starts one recorder pulling it over TCP.
func startRecorder(t *testing.T, s *Server, n *fakeNode) (int, *recorder.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte("nvr:" + recorder.Realm + ":pw"))
	rec, err := recorder.New(recorder.Config{Listener: ln, Pipeline: s.pipe,
		Recorders: []recorder.Access{{Name: "nvr", DigestHA1: hex.EncodeToString(sum[:])}}})
	if err != nil {
		t.Fatal(err)
	}
	rec.SetNode(n)
	t.Cleanup(func() { _ = rec.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	u, err := base.ParseURL(fmt.Sprintf("rtsp://nvr:pw@127.0.0.1:%d%s", port, recorder.Path))
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return port, rec
}
