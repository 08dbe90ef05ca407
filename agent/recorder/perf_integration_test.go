// SPDX-License-Identifier: Apache-2.0

//go:build integration && linux && cgo

package recorder

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/pion/rtp"
)

// procStat returns a process's user+system CPU time (clock ticks of 10 ms)
// and VmRSS in kB.
func procStat(b testing.TB, pid int) (ticks int64, rssKB int64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for l := range strings.SplitSeq(string(status), "\n") {
		if _, err := fmt.Sscanf(l, "VmRSS: %d kB", &rssKB); err == nil {
			break
		}
	}
	return ut + st, rssKB
}

// measure waits settle, then returns the node's CPU (% of one core) over
// window and the median of its VmRSS sampled every 100 ms in that window.
func measure(b testing.TB, pid int, settle, window time.Duration) (cpuPct float64, rssKB int64) {
	time.Sleep(settle)
	t0, _ := procStat(b, pid)
	start := time.Now()
	var rss []int64
	for time.Since(start) < window {
		_, r := procStat(b, pid)
		rss = append(rss, r)
		time.Sleep(100 * time.Millisecond)
	}
	t1, _ := procStat(b, pid)
	slices.Sort(rss)
	return float64(t1-t0) * 10 / float64(time.Since(start).Milliseconds()) * 100, rss[len(rss)/2]
}

// BenchmarkRecorderReaders measures a separate `camnode run` (synthetic
// 640x480@30 I420, the live view benchmarks' picture, [recorder] on
// loopback, default 1500 kbit/s, 2 s IDR): CPU (% of one core, from
// /proc/<pid>/stat over 5 s) and RSS (median VmRSS over the same 5 s)
// with nobody recording, then with 1, 4 and 8 ffmpeg readers (RTSPS,
// Digest, -c copy to null; separate processes, not counted), each 3 s
// after the last reader's session opened.
//
//	go test -tags integration ./agent/recorder/ -run '^$' -bench RecorderReaders -benchtime 1x -count 3
func BenchmarkRecorderReaders(b *testing.B) {
	for range b.N {
		n := startNodeWith(b, nil, benchPicture)
		pid := n.pid()
		ctx, cancel := context.WithCancel(context.Background())
		var readers []*exec.Cmd
		stopReaders := func() {
			cancel()
			for _, c := range readers {
				_ = c.Wait()
			}
		}
		cpu0, rss0 := measure(b, pid, 3*time.Second, 5*time.Second)
		results := map[int][2]float64{}
		for _, k := range []int{1, 4, 8} {
			for len(readers) < k {
				c := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
					"-rtsp_transport", "tcp", "-i", n.url("rtsps", "vms:"+vmsPassword+"@"), "-c", "copy", "-f", "null", "-")
				if err := c.Start(); err != nil {
					b.Fatal(err)
				}
				readers = append(readers, c)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for strings.Count(n.log.String(), "recorder session opened") < k {
				if time.Now().After(deadline) {
					b.Fatalf("%d readers not playing:\n%s", k, n.log.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			cpu, rss := measure(b, pid, 3*time.Second, 5*time.Second)
			results[k] = [2]float64{cpu, float64(rss)}
		}
		stopReaders()
		b.ReportMetric(cpu0, "idle-cpu-%")
		b.ReportMetric(float64(rss0), "idle-rss-kB")
		for _, k := range []int{1, 4, 8} {
			b.ReportMetric(results[k][0], fmt.Sprintf("cpu-%%-%d", k))
			b.ReportMetric(results[k][1], fmt.Sprintf("rss-kB-%d", k))
		}
		b.ReportMetric((results[8][0]-results[1][0])/7, "cpu-%-per-extra-reader")
		b.ReportMetric((results[8][1]-results[1][1])/7, "rss-kB-per-extra-reader")
	}
}

// BenchmarkPlayToKeyframe measures, against a separate `camnode run`
// (640x480@30, 2 s IDR interval), the time from sending PLAY to the first
// RTP packet of an IDR at a recorder (TLS, client certificate), 20
// sessions one after the other; each session is set up (DESCRIBE, SETUP)
// before the clock starts. Reported: p50 and max in ms.
//
//	go test -tags integration ./agent/recorder/ -run '^$' -bench PlayToKeyframe -benchtime 1x -count 3
func BenchmarkPlayToKeyframe(b *testing.B) {
	for range b.N {
		n := startNodeWith(b, nil, benchPicture)
		var d []time.Duration
		for range 20 {
			c := dialRaw(b, n.addr, n.clientTLS("nvr-cert"))
			if res := c.do(b, base.Describe, c.url, nil); res.StatusCode != base.StatusOK {
				b.Fatalf("DESCRIBE %d", res.StatusCode)
			}
			res := c.do(b, base.Setup, c.url+"/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}})
			if res.StatusCode != base.StatusOK {
				b.Fatalf("SETUP %d", res.StatusCode)
			}
			c.sess = strings.Split(res.Header["Session"][0], ";")[0]
			t0 := time.Now()
			if res := c.do(b, base.Play, c.url, nil); res.StatusCode != base.StatusOK {
				b.Fatalf("PLAY %d", res.StatusCode)
			}
			_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				fr, err := c.frame()
				if err != nil {
					b.Fatal(err)
				}
				var p rtp.Packet
				if fr.Channel != 0 || p.Unmarshal(fr.Payload) != nil || len(p.Payload) < 2 {
					continue
				}
				typ := p.Payload[0] & 0x1f
				if typ == 28 && p.Payload[1]&0x80 != 0 {
					typ = p.Payload[1] & 0x1f
				}
				if typ == 5 || typ == 7 { // IDR, or the SPS that precedes it
					break
				}
			}
			d = append(d, time.Since(t0))
			c.conn.Close()
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, "max-ms")
	}
}
