// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package capture

import (
	"syscall"
	"testing"
)

// jpegBenchFrames are the frames the decode benchmarks use: the noisy ones
// are as large as a real webcam's (testdata/jpeg/README.md).
var jpegBenchFrames = []struct{ name, file string }{
	{"640x480-422", "640x480-422-noisy.jpg"},
	{"1280x720-422", "1280x720-422-noisy.jpg"},
	{"1280x720-420", "1280x720-420-noisy.jpg"},
}

// BenchmarkJPEGDecode: one op is one MJPEG frame decoded to I420, 4:2:2 ->
// 4:2:0 step included; compare with `tjbench FILE -yuv` on the same file
// (scripts/bench-mjpeg does both; docs/perf.md). cpu-ns/frame is the
// process's user+system CPU time over the loop (getrusage), which a busy
// machine disturbs less than the wall time of ns/op.
func BenchmarkJPEGDecode(b *testing.B) {
	for _, f := range jpegBenchFrames {
		b.Run(f.name, func(b *testing.B) {
			jpeg := readJPEG(b, f.file)
			d, err := NewJPEGDecoder()
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			var dst Frame
			b.ReportAllocs()
			b.SetBytes(int64(len(jpeg)))
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			n := 0
			for b.Loop() {
				if err := d.Decode(jpeg, &dst); err != nil {
					b.Fatal(err)
				}
				n++
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			cpu := syscall.TimevalToNsec(r1.Utime) - syscall.TimevalToNsec(r0.Utime) +
				syscall.TimevalToNsec(r1.Stime) - syscall.TimevalToNsec(r0.Stime)
			b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/frame")
		})
	}
}

// BenchmarkChroma422To420: the 4:2:2 -> 4:2:0 step alone, both chroma
// planes of one frame.
func BenchmarkChroma422To420(b *testing.B) {
	for _, s := range []struct {
		name string
		w, h int
	}{{"640x480", 640, 480}, {"1280x720", 1280, 720}} {
		b.Run(s.name, func(b *testing.B) {
			cw := s.w / 2
			src := make([]byte, cw*s.h)
			dst := make([]byte, cw*s.h/2)
			b.ReportAllocs()
			for b.Loop() {
				chroma422To420(dst, src, cw, s.h)
				chroma422To420(dst, src, cw, s.h)
			}
		})
	}
}
