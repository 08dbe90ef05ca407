// SPDX-License-Identifier: Apache-2.0

//go:build integration

package liveview

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/capture/capturetest"
)

// shownPicture reads the picture chromium shows (the video at its own
// size, drawn into a canvas) back as a PNG, decoded.
func shownPicture(t *testing.T, ctx context.Context) image.Image {
	t.Helper()
	url := eval[string](t, ctx, 10*time.Second, `(() => {
		const v = document.getElementById("video");
		const c = document.createElement("canvas");
		c.width = v.videoWidth; c.height = v.videoHeight;
		c.getContext("2d").drawImage(v, 0, 0);
		return c.toDataURL("image/png");
	})()`)
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(url, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestBrowserMaskLeak is the leak proof of issue 13 through a browser: a
// node whose camera sends the leak scene (a pattern under and around masks
// at the picture's edges, odd offsets and sizes, a triangle; the stamp
// outside) as YUYV and as MJPEG; headless chromium views it, and the
// picture it decoded shows the fill colour across every mask (one
// macroblock of tolerance at borders inside the picture), the pattern
// around them and the stamp intact, for an installer and for staff. The
// installer's page outlines the masks over the video; staff's page has
// no outline and got no mask geometry.
func TestBrowserMaskLeak(t *testing.T) {
	if !capture.HaveJPEGDecoder || !pipeline.HaveEncoder {
		t.Skip("needs the cgo build with libturbojpeg and libx264")
	}
	scene := capturetest.LeakScene{W: 640, H: 480, Masks: capturetest.LeakMasks()}
	for _, p := range []capture.PixelFormat{capture.YUYV, capture.MJPEG} {
		t.Run(string(p), func(t *testing.T) {
			frames, err := scene.Frames(p, 30)
			if err != nil {
				t.Fatal(err)
			}
			cam := &capturetest.Replay{Format: capture.Format{Width: 640, Height: 480, Pixel: p, FPSNum: 30, FPSDen: 1}, Frames: frames}
			n := startNodeWith(t, cam, func(c *Config) {
				c.Masks = scene.Masks
				c.AllowedRoles = []string{"staff", InstallerRole}
			})
			ctx := browser(t)
			if _, err := chromedpRun(ctx, n.url); err != nil {
				t.Fatal(err)
			}
			for _, role := range []string{InstallerRole, "staff"} {
				tok, err := token.Mint(n.keys.priv, testNode, "bob", role, "aligning masks", time.Now(), 5*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				before := stats(t, ctx).Stamps
				connect(t, ctx, tok)
				waitPage(t, ctx, 30*time.Second, role+": 30 stamped frames", func(ps pageStats) bool { return ps.Stamps >= before+30 })
				if err := scene.Check(shownPicture(t, ctx), capturetest.LeakTolerance); err != nil {
					t.Errorf("%s: the picture chromium shows: %v", role, err)
				}
				outline := eval[string](t, ctx, 5*time.Second, `(() => { const s = document.getElementById("masks");
					return s.hidden + " " + s.querySelectorAll("rect, polygon").length + " " + window.camnode.masks; })()`)
				want := fmt.Sprintf("false %d %d", len(scene.Masks), len(scene.Masks))
				if role != InstallerRole {
					want = "true 0 0"
				}
				if outline != want {
					t.Errorf("%s: mask outline (hidden, shapes, masks) %q, want %q", role, outline, want)
				}
			}
		})
	}
}
