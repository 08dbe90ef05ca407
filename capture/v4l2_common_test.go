// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"bytes"
	"testing"
)

func TestV4L2ConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     V4L2Config
		ok      bool
		buffers int
	}{
		{"defaults", V4L2Config{Device: "/dev/video0"}, true, 3},
		{"by-id", V4L2Config{Device: "/dev/v4l/by-id/usb-cam-video-index0", Buffers: 4}, true, 4},
		{"no device", V4L2Config{}, false, 0},
		{"one buffer", V4L2Config{Device: "/dev/video0", Buffers: 1}, false, 0},
		{"five buffers", V4L2Config{Device: "/dev/video0", Buffers: 5}, false, 0},
		{"negative size", V4L2Config{Device: "/dev/video0", Width: -1}, false, 0},
		{"huge fps", V4L2Config{Device: "/dev/video0", FPS: 100000}, false, 0},
		{"unknown format", V4L2Config{Device: "/dev/video0", Formats: []PixelFormat{"RGB3"}}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewV4L2(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewV4L2: err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && v.cfg.Buffers != tt.buffers {
				t.Errorf("buffers = %d, want %d", v.cfg.Buffers, tt.buffers)
			}
		})
	}
}

func TestPickFormat(t *testing.T) {
	vivid := []uint32{fccYUYV, fourcc('Y', 'V', 'Y', 'U'), fccNV12, fccI420, fourcc('R', 'G', 'B', '3')}
	tests := []struct {
		name    string
		prefs   []PixelFormat
		offered []uint32
		want    PixelFormat
		code    uint32
		ok      bool
	}{
		{"vivid raw fallback", []PixelFormat{H264, MJPEG, YUYV}, vivid, YUYV, fccYUYV, true},
		{"preference order wins", []PixelFormat{NV12, YUYV}, vivid, NV12, fccNV12, true},
		{"h264 passthrough", DefaultV4L2Formats, []uint32{fccYUYV, fccMJPEG, fccH264}, H264, fccH264, true},
		{"jpeg as mjpeg", []PixelFormat{MJPEG}, []uint32{fccJPEG}, MJPEG, fccJPEG, true},
		{"nothing common", []PixelFormat{H264}, vivid, "", 0, false},
		{"empty driver list", []PixelFormat{YUYV}, nil, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code, err := pickFormat(tt.prefs, tt.offered)
			if (err == nil) != tt.ok || got != tt.want || code != tt.code {
				t.Fatalf("pickFormat = %q %s %v, want %q %s ok=%v", got, fourccString(code), err, tt.want, fourccString(tt.code), tt.ok)
			}
		})
	}
}

func TestRepack(t *testing.T) {
	// A 4x2 frame with rows padded to stride; padding bytes are 0xEE.
	pad := func(rows [][]byte, stride int) []byte {
		var b []byte
		for _, r := range rows {
			b = append(b, r...)
			b = append(b, bytes.Repeat([]byte{0xEE}, stride-len(r))...)
		}
		return b
	}
	yuyv := [][]byte{{1, 2, 3, 4, 5, 6, 7, 8}, {9, 10, 11, 12, 13, 14, 15, 16}}
	y := [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}
	uv := [][]byte{{20, 21, 22, 23}}
	u, v := [][]byte{{30, 31}}, [][]byte{{40, 41}}
	tests := []struct {
		name   string
		pix    PixelFormat
		src    []byte
		stride int
		want   []byte
		ok     bool
	}{
		{"yuyv padded", YUYV, pad(yuyv, 12), 12, bytes.Join(yuyv, nil), true},
		{"yuyv tight", YUYV, pad(yuyv, 8), 8, bytes.Join(yuyv, nil), true},
		{"nv12 padded", NV12, append(pad(y, 8), pad(uv, 8)...), 8, []byte{1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22, 23}, true},
		{"i420 padded", I420, append(append(pad(y, 8), pad(u, 4)...), pad(v, 4)...), 8, []byte{1, 2, 3, 4, 5, 6, 7, 8, 30, 31, 40, 41}, true},
		{"short source", YUYV, pad(yuyv, 12)[:15], 12, nil, false},
		{"stride below row", YUYV, pad(yuyv, 8), 6, nil, false},
		{"compressed", H264, []byte{0, 0, 1}, 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Format{Width: 4, Height: 2, Pixel: tt.pix}
			got, ok := repack(nil, tt.src, f, tt.stride)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && !bytes.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if ok && len(got) != f.FrameSize() {
				t.Errorf("len = %d, want FrameSize %d", len(got), f.FrameSize())
			}
		})
	}
}

func TestRepackNoAlloc(t *testing.T) {
	f := Format{Width: 640, Height: 480, Pixel: YUYV}
	src := make([]byte, 704*480)
	dst := make([]byte, 0, f.FrameSize())
	allocs := testing.AllocsPerRun(10, func() { dst, _ = repack(dst, src, f, 704) })
	if allocs != 0 {
		t.Errorf("repack allocates %v times per frame", allocs)
	}
}

func TestSeqCounter(t *testing.T) {
	tests := []struct {
		name string
		in   []uint32
		want []uint64
		// dropped is the count after each value.
		dropped []uint64
	}{
		{"from zero", []uint32{0, 1, 2}, []uint64{0, 1, 2}, []uint64{0, 0, 0}},
		{"gaps kept and counted", []uint32{0, 2, 5}, []uint64{0, 2, 5}, []uint64{0, 1, 3}},
		{"first frame late is not a drop", []uint32{56, 57, 60}, []uint64{56, 57, 60}, []uint64{0, 0, 2}},
		{"wraps", []uint32{1<<32 - 2, 1<<32 - 1, 0, 1}, []uint64{1<<32 - 2, 1<<32 - 1, 1 << 32, 1<<32 + 1}, []uint64{0, 0, 0, 0}},
		{"gap across the wrap", []uint32{1<<32 - 2, 1}, []uint64{1<<32 - 2, 1<<32 + 1}, []uint64{0, 2}},
		{"small step back is not a wrap", []uint32{10, 9}, []uint64{10, 9}, []uint64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seqCounter
			for i, v := range tt.in {
				if got := s.next(v); got != tt.want[i] {
					t.Fatalf("next(%d) = %d, want %d", v, got, tt.want[i])
				}
				if s.dropped != tt.dropped[i] {
					t.Fatalf("after next(%d): dropped %d, want %d", v, s.dropped, tt.dropped[i])
				}
			}
		})
	}
}

func TestFourccString(t *testing.T) {
	for code, want := range map[uint32]string{
		fourcc('Y', 'U', 'Y', 'V'):         "YUYV",
		fourcc('Y', '1', '0', ' '):         "Y10",
		fourcc('Y', '1', '6', ' ') | 1<<31: "Y16-BE",
		fourcc('X', 'R', '1', '5') | 1<<31: "XR15-BE",
		fourcc('A', 0x01, 'B', 0x7f):       "A?B?",
		0:                                  "????",
	} {
		if got := fourccString(code); got != want {
			t.Errorf("fourccString(%#x) = %q, want %q", code, got, want)
		}
	}
}
