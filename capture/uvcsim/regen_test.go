// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/camnode/camnode/capture"
)

// jpegDir holds the recorded MJPEG frames the emulated webcam serves.
const jpegDir = "../../testdata/uvc"

// regenTime is the capture time stamped into the recorded frames.
var regenTime = time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)

// TestRegenerateJPEG rewrites testdata/uvc/*.jpg from stamped test-pattern
// frames through Debian's ffmpeg (MJPEG encoder, 4:2:2 as webcams send).
// It runs only with UVCSIM_REGEN=1; see testdata/uvc/README.md.
func TestRegenerateJPEG(t *testing.T) {
	if os.Getenv("UVCSIM_REGEN") != "1" {
		t.Skip("set UVCSIM_REGEN=1 to rewrite testdata/uvc")
	}
	for _, c := range []struct {
		size   Size
		frames int
	}{{Size{640, 480}, 4}, {Size{1280, 720}, 4}} {
		tp, err := capture.NewTestPattern(capture.SyntheticConfig{Width: c.size.Width, Height: c.size.Height, Pixel: capture.YUYV, FPS: 30})
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		for n := range c.frames {
			raw.Write(tp.Frame(uint64(n), regenTime.Add(time.Duration(n)*33*time.Millisecond)).Data)
		}
		out := filepath.Join(jpegDir, fmt.Sprintf("%s-%%d.jpg", c.size))
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
			"-f", "rawvideo", "-pix_fmt", "yuyv422", "-s", c.size.String(), "-i", "-",
			"-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-q:v", "6", "-start_number", "0", "-f", "image2", out)
		cmd.Stdin = &raw
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", cmd.Args, err, b)
		}
		// Each JPEG decodes (ffmpeg again) to a picture whose stamp reads back.
		for n := range c.frames {
			in := filepath.Join(jpegDir, fmt.Sprintf("%s-%d.jpg", c.size, n))
			b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", in,
				"-f", "rawvideo", "-pix_fmt", "yuyv422", "-").Output()
			if err != nil {
				t.Fatalf("decode %s: %v", in, err)
			}
			f := capture.Frame{Data: b, Format: capture.Format{Width: c.size.Width, Height: c.size.Height, Pixel: capture.YUYV}}
			got, at, ok := capture.ReadFrameStamp(&f)
			if want := regenTime.Add(time.Duration(n) * 33 * time.Millisecond); !ok || got != uint32(n) || !at.Equal(want) {
				t.Errorf("%s: stamp %d %v %v, want %d %v", in, got, at, ok, n, want)
			}
		}
	}
}

// TestRecordedJPEGs: the committed frames load, have the size their names
// say, and there are frames for every MJPEG size the camera offers.
func TestRecordedJPEGs(t *testing.T) {
	js, err := LoadJPEGs(jpegDir)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range DefaultFormats() {
		if f.Pixel != capture.MJPEG {
			continue
		}
		for _, fr := range f.Frames {
			if len(js[fr.Size]) < 2 {
				t.Errorf("%s: %d JPEGs, want at least 2", fr.Size, len(js[fr.Size]))
			}
			for _, j := range js[fr.Size] {
				total += len(j)
				if uint32(len(j)) > frameBufferSize(capture.MJPEG, fr.Size) {
					t.Errorf("%s: a %d-byte JPEG does not fit the frame buffer", fr.Size, len(j))
				}
			}
		}
	}
	if total > 300<<10 {
		t.Errorf("recorded JPEGs total %d bytes, keep them under 300 KiB", total)
	}
}
