// SPDX-License-Identifier: Apache-2.0

//go:build integration

package liveview

import (
	"testing"
	"time"
)

// BenchmarkGlassToGlass measures capture-to-display latency in headless
// Debian chromium against a real agent (synthetic 640x480@30 I420 camera,
// x264): the capture time painted into each frame, read back by the viewer
// page at requestVideoFrameCallback's expectedDisplayTime. 80 frames after
// 10 warm-up frames per iteration; each iteration is a fresh node and
// browser, so run it with -benchtime 1x -count N:
//
//	go test -tags integration ./agent/liveview/ -run '^$' -bench GlassToGlass -benchtime 1x -count 5
func BenchmarkGlassToGlass(b *testing.B) {
	for range b.N {
		n := startNode(b)
		ctx := browser(b)
		if _, err := chromedpRun(ctx, n.url); err != nil {
			b.Fatal(err)
		}
		connect(b, ctx, n.keys.mint(b, time.Now(), 5*time.Minute))
		p := waitPage(b, ctx, 20*time.Second, "90 stamped frames", func(p pageStats) bool { return p.Stamps >= 90 })
		if len(p.Latencies) < 20 {
			b.Fatalf("only %d latencies", len(p.Latencies))
		}
		lat := p.Latencies[10:min(90, len(p.Latencies))]
		b.ReportMetric(percentile(lat, .5), "p50-ms")
		b.ReportMetric(percentile(lat, .95), "p95-ms")
		b.ReportMetric(percentile(lat, 1), "max-ms")
		b.ReportMetric(float64(p.Stamps)/float64(p.Frames), "stamped-fraction")
	}
}
