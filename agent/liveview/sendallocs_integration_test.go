// SPDX-License-Identifier: Apache-2.0

//go:build integration

package liveview

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/rtph264"
)

// The receiver process: BenchmarkSendAllocs re-runs the test binary with
// this environment variable set to the number of pion viewers to run, so
// that their allocations are not counted with the sender's. Protocol, one
// JSON line each way per viewer (lines start with helperMark): the helper
// writes an offer, reads the answer; after the last one it counts packets
// until its stdin closes and then reports the count.
const (
	receiverEnv = "CAMNODE_LIVEVIEW_RECEIVERS"
	helperMark  = "camnode-helper "
)

type helperMsg struct {
	SDP     string `json:"sdp,omitempty"`
	Packets int64  `json:"packets,omitempty"`
}

// TestReceiverProcess is not a test: it is the receiver side of
// BenchmarkSendAllocs and skips unless started by it.
func TestReceiverProcess(t *testing.T) {
	nv, _ := strconv.Atoi(os.Getenv(receiverEnv))
	if nv == 0 {
		t.Skip("receiver process of BenchmarkSendAllocs")
	}
	in := bufio.NewReader(os.Stdin)
	var total atomic.Int64
	for range nv {
		r := newReceiver(t, false)
		b, _ := json.Marshal(helperMsg{SDP: r.offer(t)})
		fmt.Printf("%s%s\n", helperMark, b)
		line, err := in.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m helperMsg
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		r.answer(t, m.SDP)
		go func() {
			for range r.pkts {
				total.Add(1)
			}
		}()
	}
	_, _ = io.Copy(io.Discard, in) // until the benchmark closes stdin
	b, _ := json.Marshal(helperMsg{Packets: total.Load()})
	fmt.Printf("%s%s\n", helperMark, b)
}

// BenchmarkSendAllocs: allocations per RTP packet on the node side only:
// the live view (WriteAU with an H.264 access unit) plus the per-sender
// path (our NACK responder, pion's sender-report interceptor, SRTP, UDP
// write), with 1, 4 and 8 pion viewers running in a separate process. The
// figures are whole-process mallocs in the timed region, so they include
// pion's background work (ICE keepalives, RTCP reports) too; the live
// view's own share is 0 (TestSharedTrackWriteAllocs, TestNACKAllocs). For
// the allocation sites:
//
//	go test -tags integration ./agent/liveview/ -run '^$' -bench SendAllocs -benchmem \
//	    -memprofile /tmp/send.mem -memprofilerate 1
//	go tool pprof -sample_index alloc_objects -top /tmp/send.mem
func BenchmarkSendAllocs(b *testing.B) {
	for _, nv := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("viewers=%d", nv), func(b *testing.B) { sendAllocs(b, nv) })
	}
}

func sendAllocs(b *testing.B, nv int) {
	k := newKeys(b)
	s, _ := newServer(b, k, nil)
	markLive(s)

	cmd := exec.Command(os.Args[0], "-test.run=^TestReceiverProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", receiverEnv, nv))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	b.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	lines := make(chan helperMsg, nv+1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), helperMark); ok {
				var m helperMsg
				if json.Unmarshal([]byte(rest), &m) == nil {
					lines <- m
				}
			}
		}
		_ = cmd.Wait()
		close(lines)
	}()
	for i := range nv {
		m, ok := <-lines
		if !ok {
			b.Fatalf("receiver process ended before offer %d", i+1)
		}
		w := post(s.Handler(), k.mint(b, time.Now(), time.Minute), "application/sdp", m.SDP)
		if w.Code != http.StatusCreated {
			b.Fatalf("viewer %d: %d %s", i+1, w.Code, w.Body.String())
		}
		msg, _ := json.Marshal(helperMsg{SDP: w.Body.String()})
		if _, err := fmt.Fprintf(stdin, "%s\n", msg); err != nil {
			b.Fatal(err)
		}
	}
	waitCond(b, 10*time.Second, "viewers connected", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		n := 0
		for _, sess := range s.sessions {
			if sess.connected.Load() {
				n++
			}
		}
		return n == nv
	})

	au := rtph264.AnnexB(rtph264.TestNAL(1, 6500)) // 6 packets, as in BenchmarkSharedTrackWrite
	pau := &pipeline.AU{Data: au}
	t0 := time.Now()
	i := 0
	frame := func() {
		i++
		pau.Time = t0.Add(time.Duration(i) * time.Second / 30)
		s.WriteAU(pau)
		if i%8 == 0 {
			time.Sleep(time.Millisecond) // do not flood the receivers' socket buffers
		}
	}
	seqStart := s.pk.seq
	frame() // first frame of the epoch
	seq0 := s.pk.seq
	for range 30 {
		frame() // warm up: pools
	}
	perFrame := float64(uint16(s.pk.seq-seq0)) / 30
	warm := float64(uint16(s.pk.seq - seqStart)) // packets each receiver got before the timed region
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		frame()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	pkts := perFrame * float64(b.N)
	allocs := float64(m1.Mallocs - m0.Mallocs)
	b.ReportMetric(pkts/float64(b.N), "pkts/frame")
	b.ReportMetric(allocs/pkts, "allocs/pkt")
	b.ReportMetric(allocs/pkts/float64(nv), "allocs/pkt/viewer")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/pkts/float64(nv), "B/pkt/viewer")

	_ = stdin.Close()
	var got int64
	for m := range lines {
		got = m.Packets
	}
	b.ReportMetric((float64(got)/float64(nv)-warm)/pkts, "received-fraction")
}
