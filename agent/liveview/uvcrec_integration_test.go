// SPDX-License-Identifier: Apache-2.0

//go:build integration

package liveview

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/capture/capturetest"
)

// TestBrowserLiveViewUVCRecording: the browser end-to-end on frames
// recorded from the emulated USB webcam through the kernel's uvcvideo
// driver (testdata/uvcrec, recorded once in the QEMU guest: stamped real
// JPEGs with truncated, garbled and EOI-less frames among them), replayed
// as an MJPEG webcam into the real agent, pipeline and live view. Chromium
// decodes the H.264 and reads back stamps, each one that an intact
// recorded frame carries (more than one: the picture moves with the
// recording); the corrupt frames are counted in the status and the stream
// goes on.
func TestBrowserLiveViewUVCRecording(t *testing.T) {
	if !capture.HaveJPEGDecoder || !pipeline.HaveEncoder {
		t.Skip("needs the cgo build with libturbojpeg and libx264")
	}
	names, err := filepath.Glob(filepath.Join("..", "..", "testdata", "uvcrec", "*.mjpg"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no recorded frames in testdata/uvcrec: %v", err)
	}
	slices.Sort(names)
	// What the recording holds, read with the node's own decoder: the
	// stamps of the intact frames and how many are corrupt.
	d, err := capture.NewJPEGDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var frames [][]byte
	stamps := map[int]bool{}
	corrupt := 0
	var pic capture.Frame
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, b)
		switch err := d.Decode(b, &pic); {
		case errors.Is(err, capture.ErrCorruptJPEG):
			corrupt++
		case err != nil:
			t.Fatalf("%s: %v", n, err)
		default:
			c, _, ok := capture.ReadFrameStamp(&pic)
			if !ok || pic.Format.Width != 640 || pic.Format.Height != 480 {
				t.Fatalf("%s: %dx%d, stamp %v", n, pic.Format.Width, pic.Format.Height, ok)
			}
			stamps[int(c)] = true
		}
	}
	if corrupt < 2 || len(stamps) < 2 {
		t.Fatalf("recording: %d corrupt frames, intact stamps %v; want at least 2 of each", corrupt, stamps)
	}
	t.Logf("%d recorded frames: %d corrupt, intact stamps %v", len(frames), corrupt, stamps)

	cam := &capturetest.Replay{Format: capture.Format{Width: 640, Height: 480, Pixel: capture.MJPEG, FPSNum: 30, FPSDen: 1},
		Frames: frames}
	n := startNodeWith(t, cam)
	ctx := browser(t)
	if _, err := chromedpRun(ctx, n.url); err != nil {
		t.Fatal(err)
	}
	connect(t, ctx, n.keys.mint(t, time.Now(), 5*time.Minute))
	seen := map[int]bool{}
	var bad []int
	p := waitPage(t, ctx, 60*time.Second, "two different recorded stamps read back in chromium", func(p pageStats) bool {
		if p.Stamps > 0 {
			if !stamps[p.LastCounter] {
				bad = append(bad, p.LastCounter)
			}
			seen[p.LastCounter] = true
		}
		return len(seen) >= 2 && p.Stamps >= 30
	})
	if p.Width != 640 || p.Height != 480 || p.State != "live" || len(bad) > 0 {
		t.Fatalf("page %+v; stamps read back that no intact recorded frame carries: %v", p, bad)
	}
	waitCond(t, 10*time.Second, "corrupt frames counted in the status", func() bool { return n.a.Status().CorruptFrames > 0 })
	t.Logf("chromium read back stamps %v over %d frames; status: %d corrupt frames", seen, p.Stamps, n.a.Status().CorruptFrames)
}
