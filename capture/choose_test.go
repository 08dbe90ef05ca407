// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"errors"
	"strings"
	"testing"
)

// webcam is what a typical USB 2 webcam offers: 720p at 30 fps only as
// MJPEG (raw YUYV 1280x720 fits the bus at 10 fps).
var webcam = []FormatOffer{
	{MJPEG, 1280, 720, 30}, {MJPEG, 640, 480, 30},
	{YUYV, 1280, 720, 10}, {YUYV, 640, 480, 30},
}

var full = Capabilities{Encode: true, DecodeMJPEG: true}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offered []FormatOffer
		want    Want
		can     Capabilities
		choice  Choice
		reason  string // substring of the reason
		err     string // substrings of the error, "|"-separated; "" means no error
	}{
		{name: "webcam 720p30: MJPEG (YUYV only reaches 10 fps)", offered: webcam,
			want: Want{Width: 1280, Height: 720, FPS: 30}, can: full, choice: Choice{MJPEG, 1280, 720, 30}, reason: "MJPEG"},
		{name: "webcam 480p30: YUYV", offered: webcam,
			want: Want{Width: 640, Height: 480, FPS: 30}, can: full, choice: Choice{YUYV, 640, 480, 30}, reason: "raw"},
		{name: "webcam 720p10: YUYV", offered: webcam,
			want: Want{Width: 1280, Height: 720, FPS: 10}, can: full, choice: Choice{YUYV, 1280, 720, 10}},
		{name: "H.264 offered: passthrough", offered: append([]FormatOffer{{H264, 1280, 720, 30}}, webcam...),
			want: Want{Width: 1280, Height: 720, FPS: 30}, can: full, choice: Choice{H264, 1280, 720, 30}, reason: "passed through"},
		{name: "masks set: never H.264", offered: append([]FormatOffer{{H264, 1280, 720, 30}}, webcam...),
			want: Want{Width: 1280, Height: 720, FPS: 30}, can: Capabilities{Encode: true, DecodeMJPEG: true, NeedRaw: true},
			choice: Choice{MJPEG, 1280, 720, 30}},
		{name: "masks set, H.264 only: error", offered: []FormatOffer{{H264, 1280, 720, 30}},
			want: Want{Width: 1280, Height: 720, FPS: 30}, can: Capabilities{Encode: true, DecodeMJPEG: true, NeedRaw: true},
			err: "H264 1280x720@30|cannot be masked"},
		{name: "no cgo: MJPEG-only camera is an error that says so", offered: []FormatOffer{{MJPEG, 1280, 720, 30}},
			want: Want{Width: 1280, Height: 720, FPS: 30}, can: Capabilities{},
			err: "MJPEG 1280x720@30|MJPEG needs the cgo build with libturbojpeg"},
		{name: "no decoder: the webcam's YUYV at 10 fps, not MJPEG", offered: webcam,
			want: Want{Width: 1280, Height: 720, FPS: 30}, can: Capabilities{Encode: true},
			choice: Choice{YUYV, 1280, 720, 10}, reason: "no showable format reaches 30 fps"},
		{name: "no encoder: H.264 still shown", offered: []FormatOffer{{YUYV, 640, 480, 30}, {H264, 640, 480, 30}},
			want: Want{Width: 640, Height: 480, FPS: 30}, can: Capabilities{}, choice: Choice{H264, 640, 480, 30}},
		{name: "nothing offered", offered: nil, want: Want{Width: 640, Height: 480, FPS: 30}, can: full,
			err: "offers nothing"},
		{name: "unknown formats only", offered: []FormatOffer{{"RGB3", 640, 480, 30}}, can: full,
			err: "RGB3 640x480@30|not a format camnode understands"},
		{name: "size not offered: closest", offered: webcam,
			want: Want{Width: 1920, Height: 1080, FPS: 30}, can: full, choice: Choice{MJPEG, 1280, 720, 30}, reason: "closest size"},
		{name: "camera.formats is a filter", offered: webcam,
			want: Want{Width: 1280, Height: 720, FPS: 30, Allowed: []PixelFormat{YUYV}}, can: full,
			choice: Choice{YUYV, 1280, 720, 10}},
		{name: "filter leaves nothing", offered: webcam,
			want: Want{Width: 1280, Height: 720, FPS: 30, Allowed: []PixelFormat{H264}}, can: full,
			err: "not in camera.formats"},
		{name: "driver lists no sizes", offered: []FormatOffer{{MJPEG, 0, 0, 0}, {NV12, 0, 0, 0}},
			want: Want{Width: 640, Height: 480, FPS: 30}, can: full, choice: Choice{NV12, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, reason, err := Choose(tc.offered, tc.want, tc.can)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("chose %v (%s), want an error", c, reason)
				}
				if !errors.Is(err, ErrNoFormat) {
					t.Errorf("error %v does not wrap ErrNoFormat", err)
				}
				for _, s := range strings.Split(tc.err, "|") {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c != tc.choice {
				t.Errorf("chose %v, want %v (%s)", c, tc.choice, reason)
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not say %q", reason, tc.reason)
			}
		})
	}
}

// TestProbeInfoSaysChoice: `camnode check` prints the chosen mode and why.
func TestProbeInfoSaysChoice(t *testing.T) {
	c, reason, err := Choose(webcam, Want{Width: 1280, Height: 720, FPS: 30}, full)
	if err != nil {
		t.Fatal(err)
	}
	p := ProbeInfo{Card: "cam", Driver: "uvcvideo", Bus: "usb-1", Offered: []string{"MJPG", "YUYV"}, Choice: c, Reason: reason}
	if s := p.String(); !strings.Contains(s, "chose MJPEG 1280x720@30: MJPEG, decoded and encoded once") {
		t.Fatalf("probe line %q does not say the choice and why", s)
	}
}
