// SPDX-License-Identifier: Apache-2.0

// Command rawframe writes raw YUYV frames of capture's synthetic test
// pattern, stamped (capture.Stamp) with their counter and a fixed capture
// time, to stdout: -count frames from frame -seq on. testdata/jpeg/make.sh
// encodes its output into the committed JPEG frames (see
// testdata/jpeg/README.md); scripts/bench-mjpeg into the benchmarks' streams.
//
//	go run ./testdata/jpeg/rawframe -size 640x480 -seq 7 >frame.yuyv
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/camnode/camnode/capture"
)

type grab struct {
	seq, count uint64
	cancel     context.CancelFunc
	out        []byte
}

func (g *grab) Started(capture.Format) {}

func (g *grab) Frame(f *capture.Frame) {
	if f.Seq >= g.seq && f.Seq < g.seq+g.count {
		g.out = append(g.out, f.Data...)
	}
	if f.Seq+1 >= g.seq+g.count {
		g.cancel()
	}
}

func main() {
	size := flag.String("size", "640x480", "WIDTHxHEIGHT")
	seq := flag.Uint64("seq", 7, "first frame number to write (the stamp's counter)")
	count := flag.Uint64("count", 1, "number of frames to write")
	us := flag.Int64("time", 1_790_000_000_000_000, "stamped capture time, Unix microseconds")
	flag.Parse()
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		fmt.Fprintln(os.Stderr, "rawframe: -size:", err)
		os.Exit(2)
	}
	src, err := capture.NewSynthetic(capture.SyntheticConfig{
		Width: w, Height: h, Pixel: capture.YUYV, FPS: capture.SyntheticMaxFPS,
		Now: func() time.Time { return time.UnixMicro(*us) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawframe:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &grab{seq: *seq, count: *count, cancel: cancel}
	if err := src.Stream(ctx, g); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "rawframe:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(g.out); err != nil {
		fmt.Fprintln(os.Stderr, "rawframe:", err)
		os.Exit(1)
	}
}
