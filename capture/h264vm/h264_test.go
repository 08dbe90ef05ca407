// SPDX-License-Identifier: Apache-2.0

//go:build vm && linux && cgo

package h264vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/capture/internal/h264dec"
	"github.com/camnode/camnode/capture/internal/vmguest"
)

const (
	width, height, fps = 320, 240, 30
	gop                = 15 // the recording's keyframe interval, in frames
	recorded           = 45 // access units in the recording
)

// The emulated camera's stream: the recording looped. Like many UVC H.264
// cameras it sends SPS and PPS once, with the first IDR of the stream;
// later IDRs come without them. From the second loop on, three frames of
// every loop are damaged as webcams damage them.
const (
	junkAt      = 8  // a P frame with a junk NAL unit appended: the junk is left out
	truncatedAt = 20 // a P frame cut inside its first slice header: dropped
	noiseAt     = 35 // a buffer of noise in place of a P frame: dropped
)

var (
	junkNAL = []byte{0, 0, 0, 1, 0x1e, 0xff, 0x17}
	noise   = []byte("\xde\xad\xbe\xef not H.264 at all \x5a\xa5\x5a\xa5")
)

// stripSets returns au without its SPS and PPS.
func stripSets(au []byte) []byte {
	var out []byte
	for nal, rest := pipeline.NextNAL(au); nal != nil; nal, rest = pipeline.NextNAL(rest) {
		if t := nal[0] & 0x1f; t != pipeline.NALSPS && t != pipeline.NALPPS {
			out = append(append(out, 0, 0, 0, 1), nal...)
		}
	}
	return out
}

// feed returns what the camera sends as frame i of its stream.
func feed(aus [][]byte, i int) []byte {
	r, loop := i%recorded, i/recorded
	if i == 0 {
		return aus[0]
	}
	au := stripSets(aus[r])
	if loop == 0 {
		return au
	}
	switch r {
	case junkAt:
		return append(au, junkNAL...)
	case truncatedAt:
		return au[:7]
	case noiseAt:
		return noise
	}
	return au
}

// output records what the pipeline hands on; it wants the stream once
// the test joins.
type output struct {
	mu     sync.Mutex
	wanted bool
	aus    []pipeline.AU // Data copied
}

func (o *output) WriteAU(au *pipeline.AU) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := *au
	c.Data = bytes.Clone(au.Data)
	o.aus = append(o.aus, c)
}
func (o *output) Cut() {}
func (o *output) Wanted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wanted
}

// keySource records what the camera answered when asked for an IDR.
type keySource struct {
	v            *capture.V4L2
	mu           sync.Mutex
	asked, could int
}

func (k *keySource) RequestKeyframe() bool {
	ok := k.v.RequestKeyframe()
	k.mu.Lock()
	k.asked++
	if ok {
		k.could++
	}
	k.mu.Unlock()
	return ok
}

// sink stands where the agent stands between capture and pipeline: it
// hands every frame on, notes which frame of the camera's stream each one
// is, and makes the viewer join mid-way through a keyframe interval.
type sink struct {
	p       *pipeline.Pipeline
	out     *output
	kinds   map[string]int  // frame bytes -> position in a damaged loop
	camera  map[string]bool // every frame the camera sends
	preroll []byte
	started chan struct{} // closed at the first pre-roll frame: the camera's stream starts
	stop    func()
	n       int // stop after n frames

	mu        sync.Mutex
	format    capture.Format
	frames    int
	index     map[uint64]int // capture Seq -> frame number
	joinAt    int            // frame number of the join, -1 before
	joinPos   int            // position of that frame in the recording
	joinSeq   uint64         // its capture sequence number
	gapsAfter uint64         // camera sequence gaps at the join
	lastGaps  uint64
	rolled    bool
	broken    int // truncated or noise frames handed to the pipeline
	junk      int // frames with a junk NAL unit handed to the pipeline
	other     int // frames that are none of the camera's (e.g. a buffer never written)
}

func (s *sink) Started(f capture.Format) {
	s.mu.Lock()
	s.format = f
	s.mu.Unlock()
}

func (s *sink) Frame(f *capture.Frame) {
	s.mu.Lock()
	n := s.frames
	s.frames++
	s.index[f.Seq] = n
	s.lastGaps = f.Dropped
	pos, known := s.kinds[string(f.Data)]
	pre := bytes.Equal(f.Data, s.preroll)
	if pre && !s.rolled {
		s.rolled = true
		close(s.started)
	}
	switch {
	case !s.camera[string(f.Data)]:
		s.other++
	case known && (pos == truncatedAt || pos == noiseAt):
		s.broken++
	case known && pos == junkAt:
		s.junk++
	}
	join := s.joinAt < 0 && known && pos >= 3 && pos <= 7
	if join {
		s.joinAt, s.joinPos, s.joinSeq, s.gapsAfter = n, pos, f.Seq, f.Dropped
	}
	s.mu.Unlock()
	if join {
		s.out.mu.Lock()
		s.out.wanted = true
		s.out.mu.Unlock()
		s.p.RequestKeyframe() // as the live view does when a viewer joins
	}
	s.p.WriteFrame(f)
	if n+1 == s.n {
		s.stop()
	}
}

// TestLoopbackH264 streams the recorded H.264 stream from v4l2loopback
// through camnode's V4L2 source and pipeline (passthrough), and checks:
// Choose picks H.264 passthrough when no masks are set (and refuses a
// camera that only offers H.264 when they are); every IDR handed on starts
// with the cached SPS and PPS though the camera sent them once; a viewer
// that joins mid-interval gets an IDR first, within one keyframe interval
// (measured in frames: v4l2loopback has no FORCE_KEY_FRAME control); the
// stamps decode (OpenH264) in order; broken access units are dropped and
// counted, never passed on.
func TestLoopbackH264(t *testing.T) {
	vmguest.Guest(t)
	dev := os.Getenv("CAMNODE_LOOPBACK")
	data, err := os.ReadFile(os.Getenv("CAMNODE_H264_STREAM"))
	if dev == "" || err != nil {
		t.Fatalf("CAMNODE_LOOPBACK=%q, CAMNODE_H264_STREAM: %v", dev, err)
	}
	var aus [][]byte
	for au, rest := pipeline.NextAU(data); au != nil; au, rest = pipeline.NextAU(rest) {
		aus = append(aus, au)
	}
	if len(aus) != recorded {
		t.Fatalf("%d access units in the recording, want %d", len(aus), recorded)
	}
	kinds, camera := map[string]int{}, map[string]bool{}
	for r := range recorded {
		kinds[string(feed(aus, recorded+r))] = r
		camera[string(feed(aus, r))] = true
		camera[string(feed(aus, recorded+r))] = true
	}

	// The camera: pre-roll (the device becomes readable; the first IDR
	// with its SPS and PPS, repeated), then, once capture has delivered a
	// pre-roll frame, its stream from that IDR on. Under TCG the reader can
	// start late and v4l2loopback then skips to the newest frame: so
	// camnode has seen the sets the camera sends once.
	ctx, cancel := context.WithTimeout(context.Background(), 4*vmguest.StreamDeadline)
	defer cancel()
	lb, err := OpenLoopback(dev, width, height, fps)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	if err := lb.Write(aus[0]); err != nil {
		t.Fatal(err)
	}
	s := &sink{kinds: kinds, camera: camera, started: make(chan struct{}), preroll: aus[0], index: map[uint64]int{}, joinAt: -1, n: 4*recorded - 10}
	fed := make(chan int, 1)
	var feedErr error
	go func() {
		tick := time.NewTicker(time.Second / fps) // a camera's pace, not a measurement
		defer tick.Stop()
		i := -1 // pre-roll
		defer func() { fed <- i }()
		started := s.started
		for {
			select {
			case <-ctx.Done():
				return
			case <-started:
				i, started = 0, nil // the stream starts now, with its first IDR
			case <-tick.C:
			}
			au := aus[0]
			if i >= 0 {
				au = feed(aus, i)
				i++
			}
			if err := lb.Write(au); err != nil {
				feedErr = err
				return
			}
		}
	}()

	cfg := capture.V4L2Config{Device: dev, Width: width, Height: height, FPS: fps, Logger: vmguest.Logger(t),
		Can: &capture.Capabilities{Encode: pipeline.HaveEncoder, DecodeMJPEG: capture.HaveJPEGDecoder}}
	v, err := capture.NewV4L2(cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := v.Probe()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	t.Logf("probe: %s %q offers %v; chose %v (%s)", info.Driver, info.Card, info.Modes, info.Choice, info.Reason)
	if info.Choice.Pixel != capture.H264 {
		t.Fatalf("chose %v, want H.264 passthrough", info.Choice)
	}
	masked := cfg
	masked.Can = &capture.Capabilities{Encode: true, DecodeMJPEG: true, NeedRaw: true}
	vm, err := capture.NewV4L2(masked)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Probe(); !errors.Is(err, capture.ErrNoFormat) {
		t.Errorf("with masks set, probe gave %v, want ErrNoFormat", err)
	} else {
		t.Logf("with masks set: %v", err)
	}

	out := &output{}
	p, err := pipeline.New(pipeline.Config{FPS: fps, Logger: vmguest.Logger(t)}, out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	keys := &keySource{v: v}
	p.SetKeyframeSource(keys)
	s.p, s.out = p, out
	sctx, stop := context.WithCancel(ctx)
	s.stop = stop
	serr := v.Stream(sctx, s)
	stop()
	if ctx.Err() != nil {
		t.Fatalf("timed out after %d frames", s.frames)
	}
	cancel() // stops the camera
	last := <-fed
	if serr != nil {
		t.Fatalf("stream: %v", serr)
	}
	if feedErr != nil {
		t.Fatalf("camera: %v", feedErr)
	}
	// Stop the pipeline: the frame it may still hold is dropped, and
	// nothing is handed on after Close.
	p.Close()

	st := p.Stats()
	aout := s.snapshotOut()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.format.Pixel != capture.H264 || s.format.Width != width || s.format.Height != height {
		t.Errorf("streamed %v, want %dx%d H.264", s.format, width, height)
	}
	if s.joinAt < 0 {
		t.Fatalf("the viewer never joined: %d frames, none at positions 3..7 of a later loop", s.frames)
	}
	if len(aout) == 0 {
		t.Fatalf("nothing handed on after the join at frame %d (position %d): pipeline %+v, err %q; camera gaps %d",
			s.joinAt, s.joinPos, st, p.Err(), s.lastGaps)
	}

	// The joining viewer: an IDR first, with the sets, within one interval.
	// The wait is counted in the camera's frames (sequence numbers, which
	// count the frames lost on the way too) and in frames delivered.
	first := aout[0]
	wait := int(first.Seq - s.joinSeq)
	delivered := s.index[first.Seq] - s.joinAt
	if !first.Key || !startsWithSets(first.Data) {
		t.Errorf("the joining viewer's first access unit: key %v, sets first %v", first.Key, startsWithSets(first.Data))
	}
	gapped := s.lastGaps != s.gapsAfter || st.Replaced > 0
	if wait > gop {
		if gapped {
			t.Logf("waited %d frames for the first IDR: frames were lost on the way (camera gaps %d->%d, replaced %d)",
				wait, s.gapsAfter, s.lastGaps, st.Replaced)
		} else {
			t.Errorf("waited %d frames for the first IDR, more than the keyframe interval (%d)", wait, gop)
		}
	}

	// Every IDR with SPS and PPS ahead, though the camera sent them once.
	idrs := 0
	for _, au := range aout {
		if au.Key {
			idrs++
			if !startsWithSets(au.Data) {
				t.Errorf("IDR of frame %d without SPS and PPS ahead", au.Seq)
			}
		}
		if bytes.Contains(au.Data, junkNAL[4:]) || bytes.Equal(au.Data, noise) {
			t.Errorf("frame %d handed on with junk in it", au.Seq)
		}
	}
	if idrs < 2 {
		t.Errorf("%d IDRs handed on, want at least 2 (the camera sent sets with the first only)", idrs)
	}

	// Broken frames dropped and counted.
	if s.broken == 0 {
		t.Errorf("no broken frame reached the pipeline (%d frames)", s.frames)
	}
	if int(st.Corrupt) < s.broken || int(st.Corrupt) > s.broken+s.other || int(st.BadNAL) < s.broken+s.junk {
		t.Errorf("pipeline counted %d corrupt, %d bad NAL units; %d broken, %d junk and %d other frames reached it",
			st.Corrupt, st.BadNAL, s.broken, s.junk, s.other)
	}

	// Stamps decode, in order: a stamp goes back only at an IDR (a new
	// loop, or a restart after a dropped frame).
	dec, err := h264dec.New()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	prev, decoded := -1, 0
	for _, au := range aout {
		pic, ok, err := dec.Decode(au.Data)
		if err != nil || !ok {
			t.Errorf("frame %d (key %v): picture %v, %v", au.Seq, au.Key, ok, err)
			continue
		}
		c, _, ok := capture.ReadStamp(pic.Y, pic.Stride, pic.Width, pic.Height)
		if !ok {
			t.Errorf("frame %d: no stamp in the picture", au.Seq)
			continue
		}
		if int(c) <= prev && !au.Key {
			t.Errorf("frame %d: stamp %d after %d without an IDR", au.Seq, c, prev)
		}
		prev = int(c)
		decoded++
	}
	ks := func() (int, int) { keys.mu.Lock(); defer keys.mu.Unlock(); return keys.asked, keys.could }
	asked, could := ks()
	t.Logf("fed %d frames; captured %d; handed on %d (%d IDRs), decoded %d", last, s.frames, len(aout), idrs, decoded)
	fmt.Printf("CAMNODE-H264 arch=%s force_key_frame=%v idr_asked=%d idr_could_ask=%d join_pos=%d wait_frames=%d wait_delivered=%d gop=%d "+
		"aus_out=%d idrs_out=%d decoded=%d corrupt=%d bad_nal=%d broken_in=%d junk_in=%d other_in=%d camera_gaps=%d replaced=%d\n",
		runtime.GOARCH, v.KeyframesAsked() > 0 || could > 0, asked, could, s.joinPos, wait, delivered, gop,
		len(aout), idrs, decoded, st.Corrupt, st.BadNAL, s.broken, s.junk, s.other, s.lastGaps, st.Replaced)
}

// startsWithSets reports whether au starts with an SPS, then a PPS.
func startsWithSets(au []byte) bool {
	nal, rest := pipeline.NextNAL(au)
	if nal == nil || nal[0]&0x1f != pipeline.NALSPS {
		return false
	}
	nal, _ = pipeline.NextNAL(rest)
	return nal != nil && nal[0]&0x1f == pipeline.NALPPS
}

func (s *sink) snapshotOut() []pipeline.AU {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return append([]pipeline.AU(nil), s.out.aus...)
}
