// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/camnode/camnode/capture"
)

// Size is a frame size in pixels.
type Size struct{ Width, Height int }

func (s Size) String() string { return fmt.Sprintf("%dx%d", s.Width, s.Height) }

// FrameSize is one frame descriptor: a size and its frame intervals in
// 100 ns units (UVC's unit), the first being the default.
type FrameSize struct {
	Size
	Intervals []uint32
}

// StreamFormat is one format descriptor: MJPEG or YUYV (uncompressed YUY2)
// and its frame sizes, the first being the default.
type StreamFormat struct {
	Pixel  capture.PixelFormat
	Frames []FrameSize
}

// Interval converts frames per second to a UVC frame interval.
func Interval(fps int) uint32 { return uint32(10_000_000 / fps) }

// DefaultFormats is what a typical USB 2 webcam offers: MJPEG 640x480 and
// 1280x720 at 30 (and 15) fps; YUYV 640x480 at 30 (and 15) fps and
// 1280x720 only at 10 (and 5) fps, the bus limit for raw 720p.
func DefaultFormats() []StreamFormat {
	return []StreamFormat{
		{Pixel: capture.MJPEG, Frames: []FrameSize{
			{Size{640, 480}, []uint32{Interval(30), Interval(15)}},
			{Size{1280, 720}, []uint32{Interval(30), Interval(15)}},
		}},
		{Pixel: capture.YUYV, Frames: []FrameSize{
			{Size{640, 480}, []uint32{Interval(30), Interval(15)}},
			{Size{1280, 720}, []uint32{Interval(10), Interval(5)}},
		}},
	}
}

// Config describes the emulated camera.
type Config struct {
	// Formats offered, in descriptor order; nil means DefaultFormats.
	Formats []StreamFormat
	// Product is the iProduct string, which uvcvideo uses as the V4L2
	// card name; "" means "camnode uvcsim webcam".
	Product string
	// Serial is the iSerialNumber string; "" means "0001".
	Serial string
	// MaxPayload is dwMaxPayloadTransferSize: the largest UVC payload
	// (header included) on the bulk endpoint; 0 means 16384 (32 packets
	// of 512 bytes, one uvcvideo URB).
	MaxPayload int
}

// Negotiated is a format the host probed or committed.
type Negotiated struct {
	Pixel    capture.PixelFormat
	Size     Size
	Interval uint32 // 100 ns units
	// FormatIndex and FrameIndex are the 1-based descriptor indices.
	FormatIndex, FrameIndex int
}

// Period returns the frame interval as a duration.
func (n Negotiated) Period() time.Duration { return time.Duration(n.Interval) * 100 * time.Nanosecond }

func (n Negotiated) String() string {
	if n.Interval == 0 {
		return fmt.Sprintf("%s %s", n.Size, n.Pixel)
	}
	return fmt.Sprintf("%s %s %.4g fps", n.Size, n.Pixel, 1e7/float64(n.Interval))
}

// Descriptor and request constants (USB 2.0 chapter 9, UVC 1.1).
const (
	dtDevice    = 1
	dtConfig    = 2
	dtString    = 3
	dtInterface = 4
	dtEndpoint  = 5
	dtIAD       = 11
	csInterface = 0x24

	ccVideo          = 0x0e
	scVideoControl   = 0x01
	scVideoStreaming = 0x02
	scVideoIfColl    = 0x03

	vcHeader         = 0x01
	vcInputTerminal  = 0x02
	vcOutputTerminal = 0x03
	vsInputHeader    = 0x01
	vsFormatUncomp   = 0x04
	vsFrameUncomp    = 0x05
	vsFormatMJPEG    = 0x06
	vsFrameMJPEG     = 0x07
	vsColorFormat    = 0x0d

	// Interface numbers, entity IDs and the streaming endpoint.
	ifControl   = 0
	ifStreaming = 1
	idCamera    = 1
	idOutput    = 2
	// EndpointIn is the bulk IN endpoint that carries the video payloads.
	EndpointIn    = 0x81
	bulkMaxPacket = 512

	reqGetStatus     = 0x00
	reqClearFeature  = 0x01
	reqSetFeature    = 0x03
	reqSetAddress    = 0x05
	reqGetDescriptor = 0x06
	reqGetConfig     = 0x08
	reqSetConfig     = 0x09
	reqGetInterface  = 0x0a
	reqSetInterface  = 0x0b

	uvcSetCur = 0x01
	uvcGetCur = 0x81
	uvcGetMin = 0x82
	uvcGetMax = 0x83
	uvcGetRes = 0x84
	uvcGetLen = 0x85
	uvcGetInf = 0x86
	uvcGetDef = 0x87

	vsProbe  = 0x01
	vsCommit = 0x02
	// vcRequestErrorCode is VC_REQUEST_ERROR_CODE_CONTROL, which uvcvideo
	// reads after a stalled request.
	vcRequestErrorCode = 0x02

	// probeLen is the size of the probe/commit structure in UVC 1.1.
	probeLen = 34

	// UVC request error codes.
	errNone         = 0x00
	errWrongState   = 0x04
	errOutOfRange   = 0x05
	errInvalidCtrl  = 0x06
	errInvalidReq   = 0x07
	errInvalidValue = 0x08

	clockHz = 48_000_000
)

// VendorID and ProductID identify the emulated camera (pid.codes' test
// range: never a real product).
const (
	VendorID  = 0x1209
	ProductID = 0x0001
)

// GUID of the uncompressed YUY2 format (UVC 1.1 payload spec, table 2-1).
var guidYUY2 = [16]byte{'Y', 'U', 'Y', '2', 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71}

// ErrStall is returned by Control for a request the device refuses: the
// transport answers it with a STALL (EPIPE on USB/IP).
var ErrStall = errors.New("uvcsim: stall")

// Setup is a USB control request's 8-byte setup packet.
type Setup struct {
	RequestType, Request uint8
	Value, Index, Length uint16
}

// ParseSetup decodes a setup packet (little-endian fields).
func ParseSetup(b [8]byte) Setup {
	return Setup{RequestType: b[0], Request: b[1], Value: binary.LittleEndian.Uint16(b[2:]),
		Index: binary.LittleEndian.Uint16(b[4:]), Length: binary.LittleEndian.Uint16(b[6:])}
}

// In reports whether data flows device-to-host.
func (s Setup) In() bool { return s.RequestType&0x80 != 0 }

// Camera is the device model of a UVC 1.1 bulk webcam: its descriptors and
// its answers to control requests (standard chapter 9 and UVC probe/commit).
// It does no I/O and is safe for concurrent use; a transport (USB/IP, see
// Serve) carries its requests and streams frames while it is committed.
type Camera struct {
	cfg     Config
	device  []byte
	config  []byte
	strings [][]byte // index 0 is the language list

	mu        sync.Mutex
	configVal uint8
	probe     [probeLen]byte
	commit    [probeLen]byte
	committed bool
	streaming bool
	gen       uint64 // incremented at every commit: a new stream
	lastErr   byte
	commits   []Negotiated
}

// New validates cfg and builds the descriptors.
func New(cfg Config) (*Camera, error) {
	if cfg.Formats == nil {
		cfg.Formats = DefaultFormats()
	}
	if cfg.Product == "" {
		cfg.Product = "camnode uvcsim webcam"
	}
	if cfg.Serial == "" {
		cfg.Serial = "0001"
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = 32 * bulkMaxPacket
	}
	if cfg.MaxPayload < 64 || cfg.MaxPayload > 1<<20 {
		return nil, fmt.Errorf("uvcsim: MaxPayload %d not in 64..%d", cfg.MaxPayload, 1<<20)
	}
	if len(cfg.Formats) == 0 || len(cfg.Formats) > 8 {
		return nil, fmt.Errorf("uvcsim: %d formats, want 1..8", len(cfg.Formats))
	}
	for i, f := range cfg.Formats {
		if f.Pixel != capture.MJPEG && f.Pixel != capture.YUYV {
			return nil, fmt.Errorf("uvcsim: format %d: pixel %q, want MJPEG or YUYV", i+1, f.Pixel)
		}
		if len(f.Frames) == 0 || len(f.Frames) > 16 {
			return nil, fmt.Errorf("uvcsim: format %d: %d frame sizes, want 1..16", i+1, len(f.Frames))
		}
		for _, fr := range f.Frames {
			if fr.Width < 2 || fr.Height < 2 || fr.Width > 4096 || fr.Height > 4096 || fr.Width%2 != 0 {
				return nil, fmt.Errorf("uvcsim: format %d: bad size %s", i+1, fr.Size)
			}
			if len(fr.Intervals) == 0 || len(fr.Intervals) > 16 {
				return nil, fmt.Errorf("uvcsim: format %d %s: %d intervals, want 1..16", i+1, fr.Size, len(fr.Intervals))
			}
			for _, iv := range fr.Intervals {
				if iv < Interval(240) || iv > 10_000_000 {
					return nil, fmt.Errorf("uvcsim: format %d %s: interval %d not in %d..1e7", i+1, fr.Size, iv, Interval(240))
				}
			}
		}
	}
	c := &Camera{cfg: cfg}
	c.buildDescriptors()
	c.probe = c.defaults()
	c.commit = c.probe
	return c, nil
}

// Config returns the configuration with defaults filled in.
func (c *Camera) Config() Config { return c.cfg }

// DeviceDescriptor returns the 18-byte device descriptor.
func (c *Camera) DeviceDescriptor() []byte { return c.device }

// ConfigDescriptor returns the whole configuration descriptor set.
func (c *Camera) ConfigDescriptor() []byte { return c.config }

// frameBufferSize is dwMaxVideoFrameBufferSize: a whole YUYV frame, or
// room for one JPEG of that size (webcams give w*h*2 as well).
func frameBufferSize(p capture.PixelFormat, s Size) uint32 {
	return uint32(s.Width * s.Height * 2)
}

func (c *Camera) buildDescriptors() {
	le16 := func(b []byte, v int) []byte { return binary.LittleEndian.AppendUint16(b, uint16(v)) }
	le32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

	d := []byte{18, dtDevice}
	d = le16(d, 0x0200)                 // bcdUSB
	d = append(d, 0xef, 0x02, 0x01, 64) // misc class, common class, IAD; ep0 max packet
	d = le16(d, VendorID)
	d = le16(d, ProductID)
	d = le16(d, 0x0100)       // bcdDevice
	d = append(d, 1, 2, 3, 1) // iManufacturer, iProduct, iSerialNumber, one configuration
	c.device = d

	// Class-specific VideoControl: header, camera terminal, output terminal.
	var vc []byte
	ct := []byte{18, csInterface, vcInputTerminal, idCamera}
	ct = le16(ct, 0x0201)       // ITT_CAMERA
	ct = append(ct, 0, 0)       // bAssocTerminal, iTerminal
	ct = le16(ct, 0)            // wObjectiveFocalLengthMin
	ct = le16(ct, 0)            // wObjectiveFocalLengthMax
	ct = le16(ct, 0)            // wOcularFocalLength
	ct = append(ct, 3, 0, 0, 0) // bControlSize, bmControls: none
	ot := []byte{9, csInterface, vcOutputTerminal, idOutput}
	ot = le16(ot, 0x0101)           // TT_STREAMING
	ot = append(ot, 0, idCamera, 0) // bAssocTerminal, bSourceID, iTerminal
	vcTotal := 13 + len(ct) + len(ot)
	vc = append(vc, 13, csInterface, vcHeader)
	vc = le16(vc, 0x0110) // bcdUVC 1.1
	vc = le16(vc, vcTotal)
	vc = le32(vc, clockHz)
	vc = append(vc, 1, ifStreaming) // bInCollection, baInterfaceNr
	vc = append(vc, ct...)
	vc = append(vc, ot...)

	// Class-specific VideoStreaming: formats, frames, colour matching.
	var vsBody []byte
	for fi, f := range c.cfg.Formats {
		switch f.Pixel {
		case capture.MJPEG:
			vsBody = append(vsBody, 11, csInterface, vsFormatMJPEG, byte(fi+1), byte(len(f.Frames)),
				0x01, 1, 0, 0, 0, 0) // fixed-size samples, default frame 1, no aspect, no interlace, no copy protect
		case capture.YUYV:
			vsBody = append(vsBody, 27, csInterface, vsFormatUncomp, byte(fi+1), byte(len(f.Frames)))
			vsBody = append(vsBody, guidYUY2[:]...)
			vsBody = append(vsBody, 16, 1, 0, 0, 0, 0) // bits per pixel, default frame 1, aspect, interlace, copy protect
		}
		sub := byte(vsFrameMJPEG)
		if f.Pixel == capture.YUYV {
			sub = vsFrameUncomp
		}
		for ri, fr := range f.Frames {
			fd := []byte{byte(26 + 4*len(fr.Intervals)), csInterface, sub, byte(ri + 1), 0}
			fd = le16(fd, fr.Width)
			fd = le16(fd, fr.Height)
			bits := uint32(fr.Width * fr.Height * 16)
			fd = le32(fd, bits*uint32(10_000_000/fr.Intervals[len(fr.Intervals)-1]))
			fd = le32(fd, bits*uint32(10_000_000/fr.Intervals[0]))
			fd = le32(fd, frameBufferSize(f.Pixel, fr.Size))
			fd = le32(fd, fr.Intervals[0]) // dwDefaultFrameInterval
			fd = append(fd, byte(len(fr.Intervals)))
			for _, iv := range fr.Intervals {
				fd = le32(fd, iv)
			}
			vsBody = append(vsBody, fd...)
		}
		// sRGB primaries and transfer, SMPTE 170M (BT.601) matrix.
		vsBody = append(vsBody, 6, csInterface, vsColorFormat, 1, 1, 4)
	}
	hdrLen := 13 + len(c.cfg.Formats)
	vs := []byte{byte(hdrLen), csInterface, vsInputHeader, byte(len(c.cfg.Formats))}
	vs = le16(vs, hdrLen+len(vsBody))
	vs = append(vs, EndpointIn, 0, idOutput, 0, 0, 0, 1) // bmInfo, bTerminalLink, still, trigger, trigger usage, bControlSize
	vs = append(vs, make([]byte, len(c.cfg.Formats))...)
	vs = append(vs, vsBody...)

	var cfg []byte
	cfg = append(cfg, 8, dtIAD, ifControl, 2, ccVideo, scVideoIfColl, 0, 2)
	cfg = append(cfg, 9, dtInterface, ifControl, 0, 0, ccVideo, scVideoControl, 0, 2)
	cfg = append(cfg, vc...)
	cfg = append(cfg, 9, dtInterface, ifStreaming, 0, 1, ccVideo, scVideoStreaming, 0, 0)
	cfg = append(cfg, vs...)
	cfg = append(cfg, 7, dtEndpoint, EndpointIn, 0x02)
	cfg = le16(cfg, bulkMaxPacket)
	cfg = append(cfg, 0)

	head := []byte{9, dtConfig}
	head = le16(head, 9+len(cfg))
	head = append(head, 2, 1, 0, 0x80, 250) // interfaces, bConfigurationValue, iConfiguration, bus powered, 500 mA
	c.config = append(head, cfg...)

	str := func(s string) []byte {
		b := []byte{0, dtString}
		for _, r := range s {
			if r > 0xffff {
				r = '?'
			}
			b = le16(b, int(r))
		}
		if len(b) > 254 {
			b = b[:254]
		}
		b[0] = byte(len(b))
		return b
	}
	c.strings = [][]byte{{4, dtString, 0x09, 0x04}, str("camnode"), str(c.cfg.Product), str(c.cfg.Serial), str("camnode uvcsim")}
}

// defaults is the GET_DEF answer: the first format's default frame at its
// default interval.
func (c *Camera) defaults() [probeLen]byte {
	var p [probeLen]byte
	p[2], p[3] = 1, 1
	binary.LittleEndian.PutUint32(p[4:], c.cfg.Formats[0].Frames[0].Intervals[0])
	c.fill(&p)
	return p
}

// fill sets the fields the device owns for the format and frame in p,
// which must be valid indices.
func (c *Camera) fill(p *[probeLen]byte) {
	f := c.cfg.Formats[p[2]-1]
	fr := f.Frames[p[3]-1]
	binary.LittleEndian.PutUint16(p[0:], 1) // bmHint: dwFrameInterval fixed
	binary.LittleEndian.PutUint32(p[18:], frameBufferSize(f.Pixel, fr.Size))
	binary.LittleEndian.PutUint32(p[22:], uint32(c.cfg.MaxPayload))
	binary.LittleEndian.PutUint32(p[26:], clockHz)
	p[30] = 0x03 // bmFramingInfo: FID required, EOF present
	p[31], p[32], p[33] = 1, 1, 1
}

// negotiate turns what the host asked for into what the device will do:
// valid indices required, the interval snapped to the nearest offered one,
// compression quality clamped.
func (c *Camera) negotiate(in []byte) ([probeLen]byte, byte) {
	var p [probeLen]byte
	copy(p[:], in)
	fi, ri := int(p[2]), int(p[3])
	if fi < 1 || fi > len(c.cfg.Formats) {
		return p, errOutOfRange
	}
	frames := c.cfg.Formats[fi-1].Frames
	if ri < 1 || ri > len(frames) {
		return p, errOutOfRange
	}
	ivs := frames[ri-1].Intervals
	want := binary.LittleEndian.Uint32(p[4:])
	best := ivs[0]
	if want != 0 {
		for _, iv := range ivs {
			if absDiff(iv, want) < absDiff(best, want) {
				best = iv
			}
		}
	}
	binary.LittleEndian.PutUint32(p[4:], best)
	if q := binary.LittleEndian.Uint16(p[12:]); q > 10000 {
		binary.LittleEndian.PutUint16(p[12:], 10000)
	}
	c.fill(&p)
	return p, errNone
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func (c *Camera) decode(p [probeLen]byte) Negotiated {
	f := c.cfg.Formats[p[2]-1]
	return Negotiated{Pixel: f.Pixel, Size: f.Frames[p[3]-1].Size, Interval: binary.LittleEndian.Uint32(p[4:]),
		FormatIndex: int(p[2]), FrameIndex: int(p[3])}
}

// Probe returns the current probe state, as GET_CUR would.
func (c *Camera) Probe() Negotiated {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.decode(c.probe)
}

// Commits returns every format the host committed, in order.
func (c *Camera) Commits() []Negotiated {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Negotiated(nil), c.commits...)
}

// StreamState is what the transport needs to stream.
type StreamState struct {
	Streaming bool
	Gen       uint64 // changes at every commit
	Format    Negotiated
}

// State returns the streaming state.
func (c *Camera) State() StreamState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return StreamState{Streaming: c.streaming, Gen: c.gen, Format: c.decode(c.commit)}
}

// Reset returns the device to its power-on state (a bus reset or a new
// attachment).
func (c *Camera) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.configVal, c.streaming, c.committed, c.lastErr = 0, false, false, 0
	c.probe = c.defaults()
	c.commit = c.probe
}

// Control answers one control request on endpoint 0. data is the OUT
// stage (len == s.Length for host-to-device requests). For IN requests it
// returns at most s.Length bytes. ErrStall (wrapped) means the device
// stalls the request. It never panics, whatever the request.
func (c *Camera) Control(s Setup, data []byte) ([]byte, error) {
	if !s.In() && len(data) != int(s.Length) {
		return nil, fmt.Errorf("%w: OUT data %d bytes, wLength %d", ErrStall, len(data), s.Length)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := c.control(s, data)
	if err != nil {
		return nil, err
	}
	if len(out) > int(s.Length) {
		out = out[:s.Length]
	}
	return out, nil
}

func (c *Camera) stall(code byte, format string, args ...any) error {
	c.lastErr = code
	return fmt.Errorf("%w: "+format, append([]any{ErrStall}, args...)...)
}

func (c *Camera) control(s Setup, data []byte) ([]byte, error) {
	typ, recip := (s.RequestType>>5)&3, s.RequestType&0x1f
	switch typ {
	case 0:
		return c.standard(s, recip)
	case 1:
		if recip != 1 {
			return nil, c.stall(errInvalidReq, "class request to recipient %d", recip)
		}
		return c.class(s, data)
	}
	return nil, c.stall(errInvalidReq, "request type %#x", s.RequestType)
}

func (c *Camera) standard(s Setup, recip uint8) ([]byte, error) {
	switch s.Request {
	case reqGetDescriptor:
		if !s.In() || recip != 0 {
			break
		}
		typ, idx := s.Value>>8, int(s.Value&0xff)
		switch typ {
		case dtDevice:
			return c.device, nil
		case dtConfig:
			if idx == 0 {
				return c.config, nil
			}
		case dtString:
			if idx < len(c.strings) {
				return c.strings[idx], nil
			}
		}
		return nil, fmt.Errorf("%w: no descriptor %#x index %d", ErrStall, typ, idx)
	case reqGetStatus:
		if s.In() {
			return []byte{0, 0}, nil
		}
	case reqSetAddress:
		return nil, nil
	case reqSetConfig:
		if v := s.Value & 0xff; v <= 1 && !s.In() {
			c.configVal = uint8(v)
			c.streaming = false
			return nil, nil
		}
	case reqGetConfig:
		if s.In() {
			return []byte{c.configVal}, nil
		}
	case reqSetInterface:
		if s.In() || recip != 1 || s.Value != 0 || s.Index > ifStreaming {
			break
		}
		if s.Index == ifStreaming {
			c.streaming = false
		}
		return nil, nil
	case reqGetInterface:
		if s.In() && recip == 1 && s.Index <= ifStreaming {
			return []byte{0}, nil
		}
	case reqClearFeature, reqSetFeature:
		if s.In() {
			break
		}
		// CLEAR_FEATURE(ENDPOINT_HALT) on the streaming endpoint is how
		// uvcvideo stops a bulk camera.
		if s.Request == reqClearFeature && recip == 2 && s.Value == 0 && s.Index&0xff == EndpointIn {
			c.streaming = false
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: standard request %#x type %#x value %#x index %#x", ErrStall, s.Request, s.RequestType, s.Value, s.Index)
}

func (c *Camera) class(s Setup, data []byte) ([]byte, error) {
	iface, entity, sel := s.Index&0xff, s.Index>>8, s.Value>>8
	if s.Value&0xff != 0 {
		return nil, c.stall(errInvalidCtrl, "wValue low byte %#x", s.Value&0xff)
	}
	switch {
	case iface == ifControl && entity == 0 && sel == vcRequestErrorCode:
		switch s.Request {
		case uvcGetCur:
			return []byte{c.lastErr}, nil
		case uvcGetInf:
			return []byte{0x01}, nil
		}
		return nil, c.stall(errInvalidReq, "request %#x on the error code control", s.Request)
	case iface == ifStreaming && entity == 0 && (sel == vsProbe || sel == vsCommit):
		return c.probeCommit(s, sel, data)
	}
	return nil, c.stall(errInvalidCtrl, "no control: interface %d entity %d selector %d", iface, entity, sel)
}

func (c *Camera) probeCommit(s Setup, sel uint16, data []byte) ([]byte, error) {
	cur := &c.probe
	if sel == vsCommit {
		cur = &c.commit
	}
	switch s.Request {
	case uvcSetCur:
		if s.In() || len(data) != probeLen {
			return nil, c.stall(errInvalidValue, "SET_CUR with %d bytes, want %d", len(data), probeLen)
		}
		p, code := c.negotiate(data)
		if code != errNone {
			return nil, c.stall(code, "format %d frame %d not offered", data[2], data[3])
		}
		*cur = p
		if sel == vsCommit {
			c.committed, c.streaming = true, true
			c.gen++
			if len(c.commits) < 1024 {
				c.commits = append(c.commits, c.decode(p))
			}
		}
		c.lastErr = errNone
		return nil, nil
	case uvcGetCur:
		return append([]byte(nil), cur[:]...), nil
	case uvcGetDef:
		p := c.defaults()
		return p[:], nil
	case uvcGetMin, uvcGetMax:
		p := c.probe
		ivs := c.cfg.Formats[p[2]-1].Frames[p[3]-1].Intervals
		lo, hi := ivs[0], ivs[0]
		for _, iv := range ivs {
			lo, hi = min(lo, iv), max(hi, iv)
		}
		if s.Request == uvcGetMin {
			binary.LittleEndian.PutUint32(p[4:], lo)
			binary.LittleEndian.PutUint16(p[12:], 0)
		} else {
			binary.LittleEndian.PutUint32(p[4:], hi)
			binary.LittleEndian.PutUint16(p[12:], 10000)
		}
		return p[:], nil
	case uvcGetRes:
		var p [probeLen]byte
		binary.LittleEndian.PutUint16(p[12:], 1)
		return p[:], nil
	case uvcGetLen:
		return []byte{probeLen, 0}, nil
	case uvcGetInf:
		return []byte{0x03}, nil // GET and SET supported
	}
	return nil, c.stall(errInvalidReq, "request %#x on selector %d", s.Request, sel)
}
