// SPDX-License-Identifier: Apache-2.0

// Command rawframe writes one raw YUYV frame of capture's synthetic test
// pattern, stamped (capture.Stamp) with a chosen counter and capture time,
// to stdout. testdata/jpeg/make.sh encodes its output into the committed
// JPEG frames; see testdata/jpeg/README.md.
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
	seq    uint64
	cancel context.CancelFunc
	out    []byte
}

func (g *grab) Started(capture.Format) {}

func (g *grab) Frame(f *capture.Frame) {
	if g.out == nil && f.Seq == g.seq {
		g.out = append([]byte(nil), f.Data...)
		g.cancel()
	}
}

func main() {
	size := flag.String("size", "640x480", "WIDTHxHEIGHT")
	seq := flag.Uint64("seq", 7, "frame number to write (the stamp's counter)")
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
	g := &grab{seq: *seq, cancel: cancel}
	if err := src.Stream(ctx, g); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "rawframe:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(g.out); err != nil {
		fmt.Fprintln(os.Stderr, "rawframe:", err)
		os.Exit(1)
	}
}
