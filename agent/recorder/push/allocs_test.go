// SPDX-License-Identifier: Apache-2.0

package push

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/camnode/camnode/agent/pipeline"
)

// steadyPublisher is a Publisher in RECORD state over a real TLS socket to
// a sink that discards what it reads (no RTSP server, whose own
// allocations would be counted too): the node's whole send path, from
// WriteAU to the socket.
func steadyPublisher(tb testing.TB) *Publisher {
	tb.Helper()
	c := newCreds(tb, "unused")
	cert, err := tls.LoadX509KeyPair(c.hubCert, c.hubKey)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				// The handshake, then the ciphertext is discarded
				// unread: the sink's decryption is not the node's.
				if tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake() == nil {
					_, _ = io.Copy(io.Discard, conn)
				}
			}()
		}
	}()
	p, err := New(Config{URL: "rtsps://" + l.Addr().String() + "/node-1", CAFile: c.pki.CAFile(),
		CertFile: c.nodeCert, KeyFile: c.nodeKey})
	if err != nil {
		tb.Fatal(err)
	}
	p.mu.Lock()
	p.running, p.stop = true, make(chan struct{})
	p.mu.Unlock()
	pc, err := p.dial(context.Background(), p.stop)
	if err != nil {
		tb.Fatal(err)
	}
	s := &session{conn: pc, keyWait: true, sendErr: make(chan error, 1), sent: make(chan struct{})}
	p.mu.Lock()
	p.dialing, p.sess = nil, s
	p.mu.Unlock()
	p.q.Reset()
	go p.send(s)
	tb.Cleanup(func() {
		pc.kill()
		p.q.Discard()
		<-s.sent
	})
	return p
}

// steadyAUs is one second of a 30 fps stream: an IDR of 40 KB, then P
// frames of 6 KB (the default 1.5 Mbit/s).
func steadyAUs() []*pipeline.AU {
	var aus []*pipeline.AU
	for i := range 30 {
		size := 6000
		if i == 0 {
			size = 40000
		}
		aus = append(aus, testAU(i, i == 0, size))
	}
	return aus
}

// drain waits until the sender has written everything queued.
func drain(p *Publisher) { p.q.WaitEmpty() }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestWriteAUAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact with -race")
	}
	p := steadyPublisher(t)
	aus := steadyAUs()
	for _, a := range aus { // warm up: buffers grow to their size once
		p.WriteAU(a)
		drain(p)
	}
	seq0 := p.packets
	allocs := testing.AllocsPerRun(10, func() {
		for _, a := range aus {
			p.WriteAU(a)
			drain(p)
		}
	})
	pkts := float64(p.packets-seq0) / 11 // AllocsPerRun runs once more to warm up
	if allocs != 0 {
		t.Fatalf("%.1f allocations per second of video (%.0f packets); want 0", allocs, pkts)
	}
}

// BenchmarkWriteAU: one op is one second of 30 fps video (an IDR and 29 P
// frames, 1.5 Mbit/s) through WriteAU, the queue, the sender and TLS to a
// socket; reported per RTP packet: allocations and CPU time (the whole
// process: the sink's reads of the ciphertext included).
func BenchmarkWriteAU(b *testing.B) {
	p := steadyPublisher(b)
	aus := steadyAUs()
	for _, a := range aus {
		p.WriteAU(a)
	}
	drain(p)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	pkts := 0
	for b.Loop() {
		s := p.packets
		for _, a := range aus {
			p.WriteAU(a)
		}
		drain(p) // a second of video fits the queue: nothing is dropped
		pkts += int(p.packets - s)
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(pkts), "allocs/packet")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(pkts), "cpu-ns/packet")
	b.ReportMetric(float64(pkts)/float64(b.N), "packets/op")
}

// BenchmarkFirstIDR: from the first access unit after privacy off (frames
// flow again) to the hub decoding the first IDR: TCP connect, TLS with a
// client certificate, OPTIONS, ANNOUNCE, SETUP, RECORD, the keyframe
// request and the IDR itself, against gortsplib's server on loopback.
func BenchmarkFirstIDR(b *testing.B) {
	c := newCreds(b, "x")
	h := newHub(b, hubOpts{tls: c.hubTLS(b, true)})
	want := make(chan struct{}, 1)
	p, err := New(Config{URL: h.url("rtsps"), CAFile: c.pki.CAFile(), CertFile: c.nodeCert, KeyFile: c.nodeKey,
		RequestKeyframe: func() {
			select {
			case want <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var total time.Duration
	seq := 0
	for b.Loop() {
		n := len(h.seqsNow())
		start := time.Now()
		p.WriteAU(testAU(seq+1, false, 6000)) // frames flow: connect
		seq++
		<-want // RECORD reached: the publisher asks for an IDR
		p.WriteAU(testAU(seq+1, true, 40000))
		seq++
		for len(h.seqsNow()) == n {
			runtime.Gosched()
		}
		total += time.Since(start)
		p.Cut()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/first-IDR")
}
