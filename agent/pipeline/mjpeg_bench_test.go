// SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/camnode/camnode/capture"
)

// BenchmarkMJPEGToH264 measures the node's MJPEG path per frame: capture's
// TurboJPEG decoder into a reused I420 frame, then the pipeline's x264
// encoder (the settings the pipeline uses: ultrafast, zerolatency,
// baseline, one thread, DefaultBitrateKbps at 30 fps). One op is one frame;
// cpu-ns/frame is the process's user+system CPU time (getrusage) over the
// loop divided by the frames, to compare with ffmpeg's equivalent pipeline
// on the same frames (scripts/bench-mjpeg, docs/perf.md).
//
// The frames are a stream of concatenated JPEGs, $CAMNODE_MJPEG_BENCH_DIR/
// WxH.mjpeg, which scripts/bench-mjpeg makes with ffmpeg (moving, stamped,
// noisy synthetic frames); without it the benchmark is skipped. The
// stream is looped, so the encoder always sees a moving picture.
func BenchmarkMJPEGToH264(b *testing.B) {
	dir := os.Getenv("CAMNODE_MJPEG_BENCH_DIR")
	if dir == "" {
		b.Skip("CAMNODE_MJPEG_BENCH_DIR not set (scripts/bench-mjpeg sets it)")
	}
	if !capture.HaveJPEGDecoder || !HaveEncoder {
		b.Skip("needs the cgo build with libturbojpeg and libx264")
	}
	for _, size := range []string{"640x480", "1280x720"} {
		b.Run(size, func(b *testing.B) {
			stream, err := os.ReadFile(filepath.Join(dir, size+".mjpeg"))
			if err != nil {
				b.Skip(err)
			}
			frames := splitJPEGs(stream)
			if len(frames) == 0 {
				b.Fatalf("%s: no JPEG frames", size)
			}
			d, err := capture.NewJPEGDecoder()
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			var pic capture.Frame
			if err := d.Decode(frames[0], &pic); err != nil {
				b.Fatal(err)
			}
			enc, err := NewEncoder(capture.Format{Width: pic.Format.Width, Height: pic.Format.Height, Pixel: capture.I420}, 30, DefaultBitrateKbps, 60, true)
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			var out []byte
			b.ReportAllocs()
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			i := 0
			for b.Loop() {
				if err := d.Decode(frames[i%len(frames)], &pic); err != nil {
					b.Fatal(err)
				}
				if out, err = enc.Encode(out[:0], pic.Data, i == 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			cpu := syscall.TimevalToNsec(r1.Utime) - syscall.TimevalToNsec(r0.Utime) +
				syscall.TimevalToNsec(r1.Stime) - syscall.TimevalToNsec(r0.Stime)
			b.ReportMetric(float64(cpu)/float64(i), "cpu-ns/frame")
		})
	}
}

// splitJPEGs cuts a stream of concatenated JPEGs (ffmpeg's -f mjpeg) at
// each SOI that follows an EOI.
func splitJPEGs(s []byte) [][]byte {
	var frames [][]byte
	for len(s) > 0 {
		end := bytes.Index(s, []byte{0xFF, 0xD9, 0xFF, 0xD8})
		if end < 0 {
			frames = append(frames, s)
			break
		}
		frames = append(frames, s[:end+2])
		s = s[end+2:]
	}
	return frames
}
