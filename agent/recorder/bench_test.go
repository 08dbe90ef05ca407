// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/rtph264"
)

// BenchmarkWriteAU measures the recorder's per-frame send path (WriteAU:
// lock, packetizer, gortsplib's stream fan-out into each session's write
// queue, and gortsplib's writer goroutines writing to TLS) with 1, 4 and
// 8 playing readers in this process that read and discard. Reported:
// ns per access unit (6 packets, a 1.5 Mbit/s @ 30 fps P frame) and
// whole-process allocations per packet (readers included; they allocate
// nothing per packet once running).
//
//	go test ./agent/recorder/ -run '^$' -bench WriteAU -benchmem -count 3
func BenchmarkWriteAU(b *testing.B) {
	for _, readers := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			ts := newTestServer(b, false)
			key := testAU(0, 6500, true)
			ts.s.WriteAU(key) // the stream exists from the first keyframe
			done := make(chan struct{})
			for range readers {
				c := dialRaw(b, ts.addr, ts.clientTLS(b, "nvr-cert"))
				c.play(b, nil)
				go func() {
					_, _ = io.Copy(io.Discard, c.br)
					done <- struct{}{}
				}()
			}
			au := &pipeline.AU{Data: rtph264.AnnexB(rtph264.TestNAL(1, 6500)), Time: time.Now()}
			for range 30 { // warm up: queues and buffers at steady size
				au.Time = au.Time.Add(33 * time.Millisecond)
				ts.s.WriteAU(au)
			}
			seq0 := ts.s.pk.Seq()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.ResetTimer()
			for range b.N {
				au.Time = au.Time.Add(33 * time.Millisecond)
				ts.s.WriteAU(au)
				if b.N > 100 {
					// Give the writer goroutines a chance: an unpaced loop
					// only measures dropped packets.
					runtime.Gosched()
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&m1)
			pkts := float64(uint16(ts.s.pk.Seq() - seq0))
			if b.N >= 65536/6 {
				pkts = float64(b.N * 6)
			}
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/pkts, "allocs/packet")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/pkts/float64(readers), "allocs/packet/reader")
			_ = ts.s.Close()
			for range readers {
				<-done
			}
		})
	}
}
