// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/pipeline"
)

// steadyServer is a recorder stream with n playing readers in this
// process, each live and past its first IDR: the node's whole send path,
// from WriteAU to the sockets. After PLAY a reader discards the ciphertext
// unread (its TLS decryption, which allocates per read, is not the node's).
func steadyServer(tb testing.TB, readers int) *testServer {
	tb.Helper()
	ts := newTestServer(tb, false)
	ts.s.WriteAU(testAU(0, 6500, true)) // the stream exists from the first keyframe
	done := make(chan struct{}, readers)
	for range readers {
		c := dialRaw(tb, ts.addr, ts.clientTLS(tb, "nvr-cert"))
		c.play(tb, nil)
		go func() {
			_, _ = io.Copy(io.Discard, c.raw.TCPConn)
			done <- struct{}{}
		}()
	}
	tb.Cleanup(func() {
		_ = ts.s.Close()
		for range readers {
			<-done
		}
	})
	// A session goes live once its PLAY response is written (which the
	// reader may see first): IDRs until every one has written one.
	deadline := time.Now().Add(time.Minute) // only to fail instead of hang
	for seq := uint32(1); ts.written() < readers; seq++ {
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d sessions started", ts.written(), readers)
		}
		ts.s.WriteAU(testAU(seq, 6500, true))
		ts.drain()
		runtime.Gosched()
	}
	return ts
}

// dropped is the access units that did not fit the sessions' send queues.
func (ts *testServer) dropped() uint64 {
	ts.s.mu.Lock()
	defer ts.s.mu.Unlock()
	var n uint64
	for _, sess := range ts.s.sessions {
		n += sess.dropped.Load()
	}
	return n
}

// written is the number of sessions that have written an access unit.
func (ts *testServer) written() int {
	ts.s.mu.Lock()
	defer ts.s.mu.Unlock()
	n := 0
	for _, sess := range ts.s.sessions {
		if sess.frames.Load() > 0 {
			n++
		}
	}
	return n
}

// drain waits until every session's sender has written what was queued.
func (ts *testServer) drain() {
	ts.s.mu.Lock()
	var qs [8]*session // MaxSessions of the test server; no allocation
	n := 0
	for _, sess := range ts.s.sessions {
		qs[n] = sess
		n++
	}
	ts.s.mu.Unlock()
	for _, sess := range qs[:n] {
		sess.q.WaitEmpty()
	}
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
		aus = append(aus, testAU(uint32(100+i), size, i == 0))
	}
	return aus
}

// writeSecond writes one second of video through WriteAU and waits until
// every session wrote it; AU times advance so timestamps do.
func (ts *testServer) writeSecond(aus []*pipeline.AU, second int) {
	for i, a := range aus {
		a.Time = time.Unix(1000+int64(second), int64(i)*int64(time.Second)/30)
		ts.s.WriteAU(a)
		ts.drain()
	}
}

// TestWriteAUAllocs is issue 11's "0 allocations per packet in steady
// state" for the recorder stream: WriteAU, the packetizer, the framing,
// each session's queue and sender, TLS, and the readers in this process,
// with 1 and 4 playing sessions. A per-packet (or per-frame) allocation
// anywhere on that path fails it (gortsplib's own send path made about 2
// per packet per reader).
func TestWriteAUAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact with -race")
	}
	for _, readers := range []int{1, 4} {
		t.Run(fmt.Sprintf("readers=%d", readers), func(t *testing.T) {
			ts := steadyServer(t, readers)
			aus := steadyAUs()
			second := 0
			ts.writeSecond(aus, second) // warm up: buffers grow to their size once
			seq0 := ts.s.pk.Seq()
			allocs := testing.AllocsPerRun(10, func() {
				second++
				ts.writeSecond(aus, second)
			})
			pkts := float64(uint16(ts.s.pk.Seq()-seq0)) / 11 // AllocsPerRun runs once more to warm up
			if ts.dropped() != 0 {
				t.Fatalf("%d access units dropped: the test lost its steady state", ts.dropped())
			}
			if allocs != 0 {
				t.Fatalf("%.1f allocations per second of video (%.0f packets, %d readers); want 0", allocs, pkts, readers)
			}
		})
	}
}

// BenchmarkWriteAU measures the recorder's send path with 1, 4 and 8
// playing readers in this process that discard the ciphertext: one op is
// one second of 30 fps video (an IDR and 29 P frames, 1.5 Mbit/s) through
// WriteAU, the packetizer, each session's queue and sender, and TLS, every
// access unit written to every reader before the next (nothing dropped).
// Reported: allocations per RTP packet (packetized once for all readers;
// the whole process, the readers included) and packets per op.
//
//	go test ./agent/recorder/ -run '^$' -bench WriteAU -benchtime 100x -count 3
func BenchmarkWriteAU(b *testing.B) {
	for _, readers := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			ts := steadyServer(b, readers)
			aus := steadyAUs()
			second := 0
			for ; second < 2; second++ { // warm up, as TestWriteAUAllocs
				ts.writeSecond(aus, second)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			pkts := 0
			for b.Loop() {
				s := ts.s.pk.Seq()
				second++
				ts.writeSecond(aus, second)
				pkts += int(uint16(ts.s.pk.Seq() - s))
			}
			runtime.ReadMemStats(&m1)
			if ts.dropped() != 0 {
				b.Fatalf("%d access units dropped", ts.dropped())
			}
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(pkts), "allocs/packet")
			b.ReportMetric(float64(pkts)/float64(b.N), "packets/op")
		})
	}
}
