// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/camnode/camnode/capture"
)

func newCam(t testing.TB) *Camera {
	t.Helper()
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// desc is one descriptor of a configuration, as uvcvideo walks them.
type desc struct {
	typ, sub byte
	b        []byte
}

func walk(t *testing.T, b []byte) []desc {
	t.Helper()
	var out []desc
	for len(b) > 0 {
		if len(b) < 2 || int(b[0]) < 2 || int(b[0]) > len(b) {
			t.Fatalf("bad descriptor length at %x", b)
		}
		d := desc{typ: b[1], b: b[:b[0]]}
		if len(d.b) > 2 {
			d.sub = d.b[2]
		}
		out = append(out, d)
		b = b[b[0]:]
	}
	return out
}

func TestDescriptors(t *testing.T) {
	c := newCam(t)
	dev := c.DeviceDescriptor()
	if len(dev) != 18 || dev[0] != 18 || dev[1] != dtDevice || dev[4] != 0xef || dev[5] != 2 || dev[6] != 1 ||
		binary.LittleEndian.Uint16(dev[8:]) != VendorID || binary.LittleEndian.Uint16(dev[10:]) != ProductID {
		t.Errorf("device descriptor % x", dev)
	}
	cfg := c.ConfigDescriptor()
	if got := int(binary.LittleEndian.Uint16(cfg[2:])); got != len(cfg) {
		t.Fatalf("wTotalLength %d, descriptor set is %d bytes", got, len(cfg))
	}
	ds := walk(t, cfg)
	// Expected order: config, IAD, VC interface, VC header, camera terminal,
	// output terminal, VS interface, VS input header, then per format:
	// format, frames, colour matching; the bulk endpoint last.
	type want struct{ typ, sub byte }
	exp := []want{{dtConfig, 0}, {dtIAD, 0}, {dtInterface, 0}, {csInterface, vcHeader}, {csInterface, vcInputTerminal},
		{csInterface, vcOutputTerminal}, {dtInterface, 0}, {csInterface, vsInputHeader},
		{csInterface, vsFormatMJPEG}, {csInterface, vsFrameMJPEG}, {csInterface, vsFrameMJPEG}, {csInterface, vsColorFormat},
		{csInterface, vsFormatUncomp}, {csInterface, vsFrameUncomp}, {csInterface, vsFrameUncomp}, {csInterface, vsColorFormat},
		{dtEndpoint, 0}}
	if len(ds) != len(exp) {
		t.Fatalf("%d descriptors, want %d", len(ds), len(exp))
	}
	for i, e := range exp {
		if ds[i].typ != e.typ || (e.typ == csInterface && ds[i].sub != e.sub) {
			t.Errorf("descriptor %d: type %#x subtype %#x, want %#x %#x", i, ds[i].typ, ds[i].sub, e.typ, e.sub)
		}
	}
	// Class-specific totals: VC header covers header + terminals; VS input
	// header covers itself and every format, frame and colour descriptor.
	vcLen := len(ds[3].b) + len(ds[4].b) + len(ds[5].b)
	if got := int(binary.LittleEndian.Uint16(ds[3].b[5:])); got != vcLen || binary.LittleEndian.Uint16(ds[3].b[3:]) != 0x0110 {
		t.Errorf("VC header: wTotalLength %d (want %d), bcdUVC %#x", got, vcLen, binary.LittleEndian.Uint16(ds[3].b[3:]))
	}
	vsLen := 0
	for _, d := range ds[7:16] {
		vsLen += len(d.b)
	}
	if got := int(binary.LittleEndian.Uint16(ds[7].b[4:])); got != vsLen || ds[7].b[3] != 2 || ds[7].b[6] != EndpointIn || ds[7].b[8] != idOutput {
		t.Errorf("VS input header % x: want wTotalLength %d, 2 formats, endpoint %#x, terminal link %d", ds[7].b, vsLen, EndpointIn, idOutput)
	}
	if ct := ds[4].b; binary.LittleEndian.Uint16(ct[4:]) != 0x0201 || ct[3] != idCamera {
		t.Errorf("camera terminal % x", ct)
	}
	if ot := ds[5].b; binary.LittleEndian.Uint16(ot[4:]) != 0x0101 || ot[7] != idCamera {
		t.Errorf("output terminal % x", ot)
	}
	if g := ds[12].b[5:21]; string(g) != string(guidYUY2[:]) {
		t.Errorf("uncompressed format GUID % x", g)
	}
	// Frames: sizes and intervals as a typical USB 2 webcam.
	frames := []struct {
		i     int
		w, h  int
		ivs   []uint32
		bufSz uint32
	}{
		{9, 640, 480, []uint32{333333, 666666}, 640 * 480 * 2},
		{10, 1280, 720, []uint32{333333, 666666}, 1280 * 720 * 2},
		{13, 640, 480, []uint32{333333, 666666}, 640 * 480 * 2},
		{14, 1280, 720, []uint32{1000000, 2000000}, 1280 * 720 * 2},
	}
	for _, f := range frames {
		b := ds[f.i].b
		w, h := binary.LittleEndian.Uint16(b[5:]), binary.LittleEndian.Uint16(b[7:])
		n := int(b[25])
		if int(w) != f.w || int(h) != f.h || binary.LittleEndian.Uint32(b[17:]) != f.bufSz || n != len(f.ivs) || len(b) != 26+4*n ||
			binary.LittleEndian.Uint32(b[21:]) != f.ivs[0] {
			t.Errorf("frame descriptor %d: % x", f.i, b)
			continue
		}
		for k, iv := range f.ivs {
			if got := binary.LittleEndian.Uint32(b[26+4*k:]); got != iv {
				t.Errorf("frame descriptor %d: interval %d = %d, want %d", f.i, k, got, iv)
			}
		}
	}
	if ep := ds[16].b; ep[2] != EndpointIn || ep[3] != 0x02 || binary.LittleEndian.Uint16(ep[4:]) != 512 {
		t.Errorf("endpoint % x, want bulk IN 0x81, 512 bytes", ep)
	}
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{
		{Formats: []StreamFormat{}},
		{Formats: []StreamFormat{{Pixel: capture.H264, Frames: []FrameSize{{Size{640, 480}, []uint32{333333}}}}}},
		{Formats: []StreamFormat{{Pixel: capture.MJPEG}}},
		{Formats: []StreamFormat{{Pixel: capture.MJPEG, Frames: []FrameSize{{Size{641, 480}, []uint32{333333}}}}}},
		{Formats: []StreamFormat{{Pixel: capture.MJPEG, Frames: []FrameSize{{Size{640, 480}, nil}}}}},
		{Formats: []StreamFormat{{Pixel: capture.MJPEG, Frames: []FrameSize{{Size{640, 480}, []uint32{0}}}}}},
		{MaxPayload: 10},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// probeData builds a 34-byte probe/commit block.
func probeData(format, frame byte, interval uint32) []byte {
	p := make([]byte, probeLen)
	p[2], p[3] = format, frame
	binary.LittleEndian.PutUint32(p[4:], interval)
	return p
}

func setCur(sel byte, data []byte) Setup {
	return Setup{RequestType: 0x21, Request: uvcSetCur, Value: uint16(sel) << 8, Index: ifStreaming, Length: uint16(len(data))}
}

func get(req, sel byte) Setup {
	return Setup{RequestType: 0xa1, Request: req, Value: uint16(sel) << 8, Index: ifStreaming, Length: probeLen}
}

// controlCase is one step of a control-request table; the same table seeds
// FuzzControl.
type controlCase struct {
	name  string
	setup Setup
	data  []byte
	stall bool
	// check, if set, inspects the reply and the camera afterwards.
	check func(t *testing.T, c *Camera, out []byte)
}

func wantProbe(format capture.PixelFormat, w, h int, interval uint32) func(*testing.T, *Camera, []byte) {
	return func(t *testing.T, c *Camera, out []byte) {
		t.Helper()
		n := c.Probe()
		if n.Pixel != format || n.Size != (Size{w, h}) || n.Interval != interval {
			t.Errorf("probe %v, want %s %dx%d interval %d", n, format, w, h, interval)
		}
	}
}

var controlCases = []controlCase{
	{name: "device descriptor", setup: Setup{0x80, reqGetDescriptor, dtDevice << 8, 0, 64},
		check: func(t *testing.T, c *Camera, out []byte) {
			if len(out) != 18 {
				t.Errorf("%d bytes", len(out))
			}
		}},
	{name: "device descriptor, first 8 bytes", setup: Setup{0x80, reqGetDescriptor, dtDevice << 8, 0, 8},
		check: func(t *testing.T, c *Camera, out []byte) {
			if len(out) != 8 || out[7] != 64 {
				t.Errorf("% x", out)
			}
		}},
	{name: "config header", setup: Setup{0x80, reqGetDescriptor, dtConfig << 8, 0, 9}},
	{name: "string product", setup: Setup{0x80, reqGetDescriptor, dtString<<8 | 2, 0x409, 255},
		check: func(t *testing.T, c *Camera, out []byte) {
			if len(out) != 2+2*len("camnode uvcsim webcam") || out[2] != 'c' {
				t.Errorf("% x", out)
			}
		}},
	{name: "string out of range", setup: Setup{0x80, reqGetDescriptor, dtString<<8 | 9, 0x409, 255}, stall: true},
	{name: "device qualifier (not high-speed capable elsewhere)", setup: Setup{0x80, reqGetDescriptor, 6 << 8, 0, 10}, stall: true},
	{name: "set configuration", setup: Setup{0x00, reqSetConfig, 1, 0, 0}},
	{name: "set configuration 2", setup: Setup{0x00, reqSetConfig, 2, 0, 0}, stall: true},
	{name: "get status", setup: Setup{0x80, reqGetStatus, 0, 0, 2}},
	{name: "set interface 1 alt 0", setup: Setup{0x01, reqSetInterface, 0, 1, 0}},
	{name: "set interface 1 alt 1 (bulk camera has none)", setup: Setup{0x01, reqSetInterface, 1, 1, 0}, stall: true},
	{name: "probe GET_LEN", setup: Setup{0xa1, uvcGetLen, vsProbe << 8, ifStreaming, 2},
		check: func(t *testing.T, c *Camera, out []byte) {
			if len(out) != 2 || out[0] != probeLen {
				t.Errorf("% x", out)
			}
		}},
	{name: "probe GET_INFO", setup: Setup{0xa1, uvcGetInf, vsProbe << 8, ifStreaming, 1}},
	{name: "probe GET_DEF", setup: get(uvcGetDef, vsProbe),
		check: func(t *testing.T, c *Camera, out []byte) {
			if len(out) != probeLen || out[2] != 1 || out[3] != 1 || binary.LittleEndian.Uint32(out[4:]) != 333333 ||
				binary.LittleEndian.Uint32(out[18:]) != 640*480*2 || binary.LittleEndian.Uint32(out[22:]) != 16384 {
				t.Errorf("% x", out)
			}
		}},
	{name: "probe MJPEG 720p30", setup: setCur(vsProbe, probeData(1, 2, 333333)), data: probeData(1, 2, 333333),
		check: wantProbe(capture.MJPEG, 1280, 720, 333333)},
	{name: "probe GET_CUR after MJPEG 720p", setup: get(uvcGetCur, vsProbe),
		check: func(t *testing.T, c *Camera, out []byte) {
			if out[2] != 1 || out[3] != 2 || binary.LittleEndian.Uint32(out[18:]) != 1280*720*2 || out[30] != 3 {
				t.Errorf("% x", out)
			}
		}},
	{name: "probe GET_MAX: longest interval", setup: get(uvcGetMax, vsProbe),
		check: func(t *testing.T, c *Camera, out []byte) {
			if binary.LittleEndian.Uint32(out[4:]) != 666666 || binary.LittleEndian.Uint16(out[12:]) != 10000 {
				t.Errorf("% x", out)
			}
		}},
	{name: "probe GET_MIN: shortest interval", setup: get(uvcGetMin, vsProbe),
		check: func(t *testing.T, c *Camera, out []byte) {
			if binary.LittleEndian.Uint32(out[4:]) != 333333 {
				t.Errorf("% x", out)
			}
		}},
	{name: "probe YUYV 720p asking 30 fps gets 10", setup: setCur(vsProbe, probeData(2, 2, 333333)), data: probeData(2, 2, 333333),
		check: wantProbe(capture.YUYV, 1280, 720, 1000000)},
	{name: "probe interval 0 gets the default", setup: setCur(vsProbe, probeData(2, 1, 0)), data: probeData(2, 1, 0),
		check: wantProbe(capture.YUYV, 640, 480, 333333)},
	{name: "probe 15 fps", setup: setCur(vsProbe, probeData(2, 1, 666000)), data: probeData(2, 1, 666000),
		check: wantProbe(capture.YUYV, 640, 480, 666666)},
	{name: "probe bad format keeps the last probe", setup: setCur(vsProbe, probeData(3, 1, 333333)), data: probeData(3, 1, 333333), stall: true,
		check: wantProbe(capture.YUYV, 640, 480, 666666)},
	{name: "error code after the stall: out of range", setup: Setup{0xa1, uvcGetCur, vcRequestErrorCode << 8, ifControl, 1},
		check: func(t *testing.T, c *Camera, out []byte) {
			if len(out) != 1 || out[0] != errOutOfRange {
				t.Errorf("% x", out)
			}
		}},
	{name: "probe bad frame", setup: setCur(vsProbe, probeData(1, 3, 333333)), data: probeData(1, 3, 333333), stall: true},
	{name: "probe format 0", setup: setCur(vsProbe, probeData(0, 1, 333333)), data: probeData(0, 1, 333333), stall: true},
	{name: "probe short SET_CUR (UVC 1.0 size)", setup: setCur(vsProbe, make([]byte, 26)), data: make([]byte, 26), stall: true},
	{name: "probe SET_CUR data shorter than wLength", setup: Setup{0x21, uvcSetCur, vsProbe << 8, ifStreaming, probeLen}, data: make([]byte, 3), stall: true},
	{name: "commit YUYV 480p30 starts streaming", setup: setCur(vsCommit, probeData(2, 1, 333333)), data: probeData(2, 1, 333333),
		check: func(t *testing.T, c *Camera, out []byte) {
			st := c.State()
			if !st.Streaming || st.Format.Pixel != capture.YUYV || st.Format.Size != (Size{640, 480}) || st.Format.Period().Milliseconds() != 33 {
				t.Errorf("state %+v", st)
			}
		}},
	{name: "commit GET_CUR", setup: get(uvcGetCur, vsCommit),
		check: func(t *testing.T, c *Camera, out []byte) {
			if out[2] != 2 || out[3] != 1 {
				t.Errorf("% x", out)
			}
		}},
	{name: "clear halt on the video endpoint stops streaming", setup: Setup{0x02, reqClearFeature, 0, EndpointIn, 0},
		check: func(t *testing.T, c *Camera, out []byte) {
			if c.State().Streaming {
				t.Error("still streaming")
			}
		}},
	{name: "unknown VS selector", setup: get(uvcGetCur, 0x03), stall: true},
	{name: "entity control (no controls offered)", setup: Setup{0xa1, uvcGetCur, 0x02 << 8, idCamera<<8 | ifControl, 2}, stall: true},
	{name: "class request to the device", setup: Setup{0xa0, uvcGetCur, 0, 0, 2}, stall: true},
	{name: "vendor request", setup: Setup{0xc0, 0x01, 0, 0, 2}, stall: true},
	{name: "wValue low byte set", setup: Setup{0xa1, uvcGetCur, vsProbe<<8 | 1, ifStreaming, probeLen}, stall: true},
}

// TestControl runs the table in order against one camera: a host's
// enumeration and negotiation.
func TestControl(t *testing.T) {
	c := newCam(t)
	for _, tc := range controlCases {
		out, err := c.Control(tc.setup, tc.data)
		if stalled := errors.Is(err, ErrStall); stalled != tc.stall || (err != nil && !stalled) {
			t.Errorf("%s: err %v, want stall %v", tc.name, err, tc.stall)
			continue
		}
		if len(out) > int(tc.setup.Length) {
			t.Errorf("%s: %d bytes for wLength %d", tc.name, len(out), tc.setup.Length)
		}
		if tc.check != nil {
			t.Run(tc.name, func(t *testing.T) { tc.check(t, c, out) })
		}
	}
	commits := c.Commits()
	if len(commits) != 1 || commits[0].Pixel != capture.YUYV || commits[0].FormatIndex != 2 || commits[0].FrameIndex != 1 {
		t.Errorf("commits %v", commits)
	}
}

// FuzzControl: no control request, in any order, panics the camera,
// answers more than wLength, or leaves the probe or commit state invalid.
func FuzzControl(f *testing.F) {
	for _, tc := range controlCases {
		s := tc.setup
		f.Add(s.RequestType, s.Request, s.Value, s.Index, s.Length, tc.data)
	}
	f.Fuzz(func(t *testing.T, rt, req uint8, value, index, length uint16, data []byte) {
		c := newCam(t)
		s := Setup{rt, req, value, index, length}
		if !s.In() && len(data) > 4096 {
			return
		}
		for range 2 { // the same request twice: state it left must be consistent
			d := data
			if !s.In() && len(d) != int(length) {
				d = make([]byte, length)
				copy(d, data)
			}
			out, err := c.Control(s, d)
			if err != nil && !errors.Is(err, ErrStall) {
				t.Fatalf("error not a stall: %v", err)
			}
			if len(out) > int(length) {
				t.Fatalf("%d bytes for wLength %d", len(out), length)
			}
			p := c.Probe()
			st := c.State()
			if p.Interval == 0 || st.Format.Interval == 0 || p.Size.Width == 0 || st.Format.Size.Width == 0 {
				t.Fatalf("invalid state: probe %v, commit %v", p, st.Format)
			}
		}
	})
}
