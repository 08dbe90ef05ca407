// SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware"

	"github.com/camnode/camnode/capture"
)

// recOutput records what the pipeline hands it.
type recOutput struct {
	mu     sync.Mutex
	aus    []AU // Data copied
	cuts   int
	wanted bool
	got    chan struct{} // signalled (non-blocking) on each AU
}

func newRecOutput() *recOutput { return &recOutput{wanted: true, got: make(chan struct{}, 1)} }

func (o *recOutput) WriteAU(au *AU) {
	o.mu.Lock()
	c := *au
	c.Data = bytes.Clone(au.Data)
	o.aus = append(o.aus, c)
	o.mu.Unlock()
	select {
	case o.got <- struct{}{}:
	default:
	}
}

func (o *recOutput) Cut() {
	o.mu.Lock()
	o.cuts++
	o.mu.Unlock()
}

func (o *recOutput) Wanted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wanted
}

func (o *recOutput) snapshot() []AU {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]AU(nil), o.aus...)
}

// waitAU waits until an AU satisfying ok arrived.
func (o *recOutput) waitAU(t *testing.T, what string, ok func(AU) bool) AU {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		for _, au := range o.snapshot() {
			if ok(au) {
				return au
			}
		}
		select {
		case <-o.got:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// hookMasker is a Masker that hands every picture it sees to a callback.
type hookMasker func(*capture.Frame)

func (h hookMasker) Apply(f *capture.Frame) error { h(f); return nil }

// TestMasksBurnedBeforeEncode: with the node's real Masker, the picture
// the encoder gets has the mask's area filled (a decoded MJPEG frame, so
// after decoding) while the stamp outside it is intact; a picture that
// cannot be masked is dropped: no access unit, and Err says why.
func TestMasksBurnedBeforeEncode(t *testing.T) {
	needCodecs(t)
	good := readJPEG(t, "640x480-420.jpg")
	// The lower right quarter: the frame stamp is painted top left.
	real := capture.NewMasker([]firmware.Mask{{Rect: []float64{0.5, 0.5, 1, 1}}})
	type seen struct {
		stampOK bool
		filled  bool
	}
	pics := make(chan seen, 4)
	o := newRecOutput()
	p := newPipeline(t, Config{Masker: maskerFunc(func(f *capture.Frame) error {
		if err := real.Apply(f); err != nil {
			return err
		}
		_, _, ok := capture.ReadFrameStamp(f)
		w, h := f.Format.Width, f.Format.Height
		filled := true
		for y := h / 2; y < h; y++ {
			for x := w / 2; x < w; x++ {
				if f.Data[y*w+x] != 16 {
					filled = false
				}
			}
		}
		pics <- seen{ok, filled}
		return nil
	})}, o)
	p.WriteFrame(mjpegFrame(good, 1))
	o.waitAU(t, "the masked frame's access unit", func(au AU) bool { return au.Seq == 1 })
	if s := <-pics; !s.stampOK || !s.filled {
		t.Fatalf("picture before encoding: stamp readable %v, mask area filled %v; want both", s.stampOK, s.filled)
	}

	refuse := newRecOutput()
	q := newPipeline(t, Config{Masker: maskerFunc(func(*capture.Frame) error { return capture.ErrMaskFormat })}, refuse)
	q.WriteFrame(mjpegFrame(good, 1))
	q.WriteFrame(mjpegFrame(good, 2))
	waitTaken(t, q, 2)
	deadline := time.Now().Add(30 * time.Second) // to fail, not to time anything
	for q.Err() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e := q.Err(); !strings.Contains(e, "privacy masks") {
		t.Fatalf("Err %q, want the masking failure", e)
	}
	if aus := refuse.snapshot(); len(aus) != 0 {
		t.Fatalf("%d access units from pictures that could not be masked", len(aus))
	}
}

// maskerFunc is a Masker from a function.
type maskerFunc func(*capture.Frame) error

func (m maskerFunc) Apply(f *capture.Frame) error { return m(f) }

func readJPEG(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "jpeg", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func needCodecs(t testing.TB) {
	t.Helper()
	if !capture.HaveJPEGDecoder || !HaveEncoder {
		t.Skip("needs the cgo build with libturbojpeg and libx264")
	}
}

func newPipeline(t testing.TB, cfg Config, outs ...Output) *Pipeline {
	t.Helper()
	if cfg.FPS == 0 {
		cfg.FPS = 60 // frames of the tests are 1/30 s apart: none is skipped
	}
	p, err := New(cfg, outs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

var t0 = time.Unix(1_790_000_000, 0)

func mjpegFrame(data []byte, seq uint64) *capture.Frame {
	return &capture.Frame{Data: data, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second / 30),
		Format: capture.Format{Width: 640, Height: 480, Pixel: capture.MJPEG, FPSNum: 30, FPSDen: 1}}
}

// TestMJPEGThroughPipeline: MJPEG frames from a webcam are decoded (the
// picture the masks and the encoder see carries the frame's stamp and the
// frame's sequence number and time), encoded once, and every output gets
// the access units, the first an IDR; a corrupt frame in between is
// skipped and counted, and the stream goes on.
func TestMJPEGThroughPipeline(t *testing.T) {
	needCodecs(t)
	good := readJPEG(t, "640x480-420.jpg")
	corrupt := good[:len(good)/2]
	type seen struct {
		seq, stamp uint64
		ok         bool
		t          time.Time
		pix        capture.PixelFormat
	}
	pics := make(chan seen, 16)
	o1, o2 := newRecOutput(), newRecOutput()
	p := newPipeline(t, Config{Masker: hookMasker(func(f *capture.Frame) {
		c, _, ok := capture.ReadFrameStamp(f)
		pics <- seen{f.Seq, uint64(c), ok, f.Time, f.Format.Pixel}
	})}, o1, o2)

	p.WriteFrame(mjpegFrame(good, 1))
	o1.waitAU(t, "the first access unit", func(au AU) bool { return au.Seq == 1 })
	p.WriteFrame(mjpegFrame(corrupt, 2))
	waitTaken(t, p, 2)
	p.WriteFrame(mjpegFrame(good, 3))
	for _, o := range []*recOutput{o1, o2} {
		o.waitAU(t, "an access unit after the corrupt frame", func(au AU) bool { return au.Seq == 3 })
	}

	for _, want := range []uint64{1, 3} {
		s := <-pics
		if s.seq != want || !s.ok || s.stamp != 8 || s.pix != capture.I420 || !s.t.Equal(mjpegFrame(nil, want).Time) {
			t.Errorf("picture before encoding: %+v, want seq %d, I420, stamp 8 and the frame's time", s, want)
		}
	}
	if st := p.Stats(); st.Corrupt != 1 || p.CorruptFrames() != 1 {
		t.Errorf("stats %+v: want 1 corrupt frame", st)
	}
	for i, o := range []*recOutput{o1, o2} {
		aus := o.snapshot()
		if len(aus) < 2 || !aus[0].Key || !IsKeyAU(aus[0].Data) {
			t.Fatalf("output %d: %d AUs, first key %v", i, len(aus), len(aus) > 0 && aus[0].Key)
		}
	}
	if e := p.Err(); e != "" {
		t.Errorf("Err %q", e)
	}
}

// TestCutDropsInFlightFrame: a frame captured before a Cut and still being
// encoded when the Cut returns never reaches an output, every output is
// cut, and the first access unit after it is an IDR from a fresh encoder.
func TestCutDropsInFlightFrame(t *testing.T) {
	needCodecs(t)
	good := readJPEG(t, "640x480-420.jpg")
	inApply := make(chan uint64)
	release := make(chan struct{})
	o := newRecOutput()
	p := newPipeline(t, Config{Masker: hookMasker(func(f *capture.Frame) {
		if f.Seq < 1000 {
			inApply <- f.Seq
			<-release
		}
	})}, o)

	p.WriteFrame(mjpegFrame(good, 1))
	if s := <-inApply; s != 1 {
		t.Fatalf("seq %d in the mask hook", s)
	}
	// Frame 1 is decoded and held between decode and encode. Privacy on:
	p.Cut()
	if p.Live() {
		t.Error("Live after Cut")
	}
	close(release)
	p.WriteFrame(mjpegFrame(good, 1000))
	first := o.waitAU(t, "the first access unit after the cut", func(au AU) bool { return au.Seq >= 1000 })
	for _, au := range o.snapshot() {
		if au.Seq < 1000 {
			t.Fatalf("access unit of frame %d, captured before the cut, reached an output after it", au.Seq)
		}
	}
	if !first.Key {
		t.Error("first access unit after the cut is not an IDR")
	}
	o.mu.Lock()
	cuts := o.cuts
	o.mu.Unlock()
	if cuts != 1 {
		t.Errorf("output cut %d times, want 1", cuts)
	}
}

// annexB joins NAL units with 4-byte start codes.
func annexB(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

// waitTaken waits until the pipeline goroutine has taken (or the newest-
// wins hand-off replaced) n frames.
func waitTaken(t *testing.T, p *Pipeline, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for st := p.Stats(); st.Taken+st.Replaced < n; st = p.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d frames taken: %+v", n, st)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline only to fail
	}
}

func h264Frame(au []byte, seq uint64) *capture.Frame {
	return &capture.Frame{Data: au, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second / 30),
		Format: capture.Format{Width: 640, Height: 480, Pixel: capture.H264, FPSNum: 30, FPSDen: 1}}
}

// TestH264Passthrough: an H.264 camera's access units are passed through;
// the SPS and PPS the camera sent once are cached and sent ahead of every
// later IDR; after a Cut nothing is sent until the camera's next IDR; with
// masks set nothing is passed through and the reason is reported.
func TestH264Passthrough(t *testing.T) {
	sps, pps, idr, pslice := recordedNALs(t) // a real encoder's: the pipeline checks them
	o := newRecOutput()
	o.wanted = false
	p := newPipeline(t, Config{}, o)

	// Stream start, nobody watching: the parameter sets are cached anyway.
	p.WriteFrame(h264Frame(annexB(sps, pps, idr), 1))
	p.WriteFrame(h264Frame(annexB(pslice), 2))
	o.mu.Lock()
	o.wanted = true
	o.mu.Unlock()
	// A viewer came: the stream starts at the next IDR, which the
	// camera sends without parameter sets.
	p.WriteFrame(h264Frame(annexB(pslice), 3))
	p.WriteFrame(h264Frame(annexB(idr), 4))
	got := o.waitAU(t, "the IDR", func(au AU) bool { return au.Seq == 4 })
	if want := annexB(sps, pps, idr); !bytes.Equal(got.Data, want) || !got.Key {
		t.Fatalf("IDR sent as %x (key %v), want %x", got.Data, got.Key, want)
	}

	p.Cut()
	p.WriteFrame(h264Frame(annexB(pslice), 1001))
	p.WriteFrame(h264Frame(annexB(sps, pps, idr), 1002))
	o.waitAU(t, "the IDR after the cut", func(au AU) bool { return au.Seq == 1002 })
	p.WriteFrame(h264Frame(annexB(idr), 1003))
	got = o.waitAU(t, "the second IDR after the cut", func(au AU) bool { return au.Seq == 1003 })
	if want := annexB(sps, pps, idr); !bytes.Equal(got.Data, want) {
		t.Fatalf("IDR after the cut sent as %x, want %x", got.Data, want)
	}
	for _, au := range o.snapshot() {
		if au.Seq == 1001 || au.Seq == 3 {
			t.Fatalf("P frame %d was sent before an IDR", au.Seq)
		}
	}

	// Masks set: H.264 cannot be masked, so it is never passed through.
	om := newRecOutput()
	pm := newPipeline(t, Config{Masker: hookMasker(func(*capture.Frame) {})}, om)
	pm.WriteFrame(h264Frame(annexB(sps, pps, idr), 1))
	waitTaken(t, pm, 1)
	if pm.Err() == "" {
		t.Error("no error for H.264 with masks")
	}
	if n := len(om.snapshot()); n != 0 {
		t.Fatalf("%d access units passed through with masks set", n)
	}
}

// TestFullRangeSignalled: decoded JPEG is full range (JFIF) and the
// encoder says so in the SPS's VUI, so that browsers do not crush the
// contrast; raw camera formats keep the default (limited range).
func TestFullRangeSignalled(t *testing.T) {
	if !HaveEncoder {
		t.Skip("needs libx264")
	}
	f := capture.Format{Width: 64, Height: 64, Pixel: capture.I420}
	spsOf := func(full bool) []byte {
		e, err := NewEncoder(f, 30, 500, 60, full)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		au, err := e.Encode(nil, make([]byte, f.FrameSize()), true)
		if err != nil {
			t.Fatal(err)
		}
		for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
			if nal[0]&0x1f == NALSPS {
				return nal
			}
		}
		t.Fatal("no SPS")
		return nil
	}
	if full, limited := spsOf(true), spsOf(false); bytes.Equal(full, limited) {
		t.Fatal("the SPS does not change with full range: the VUI flag is not set")
	}
}

// TestYUYVConverted: a YUYV camera's frame reaches the mask hook and the
// encoder as I420 with its picture (the stamp) and metadata intact.
func TestYUYVConverted(t *testing.T) {
	if !HaveEncoder {
		t.Skip("needs libx264")
	}
	fm := capture.Format{Width: 640, Height: 480, Pixel: capture.YUYV, FPSNum: 30, FPSDen: 1}
	f := &capture.Frame{Data: make([]byte, fm.FrameSize()), Seq: 5, Time: t0, Format: fm}
	capture.Stamp(f, 42, t0)
	got := make(chan string, 1)
	o := newRecOutput()
	p := newPipeline(t, Config{Masker: hookMasker(func(pic *capture.Frame) {
		c, ts, ok := capture.ReadFrameStamp(pic)
		select {
		case got <- fmt.Sprintf("%s %dx%d seq %d stamp %d %v %v", pic.Format.Pixel, pic.Format.Width, pic.Format.Height, pic.Seq, c, ok, ts.Equal(t0)):
		default:
		}
	})}, o)
	p.WriteFrame(f)
	o.waitAU(t, "the access unit", func(au AU) bool { return au.Seq == 5 && au.Key })
	if s, want := <-got, "I420 640x480 seq 5 stamp 42 true true"; s != want {
		t.Fatalf("picture before encoding: %s, want %s", s, want)
	}
}

// keyCamera is a KeyframeSource that counts the requests.
type keyCamera struct{ asked atomic.Int32 }

func (k *keyCamera) RequestKeyframe() bool { k.asked.Add(1); return true }

// TestH264BrokenDropped: a broken access unit from an H.264 camera is
// never passed on (counted as corrupt, its NAL units as bad), nor is
// anything after it until the camera's next IDR, which is asked for once;
// a gap in the camera's sequence is handled the same way; a broken NAL
// unit that is not a slice is left out of an access unit that is passed on.
func TestH264BrokenDropped(t *testing.T) {
	aus := recordedAUs(t)
	o := newRecOutput()
	p := newPipeline(t, Config{}, o)
	cam := &keyCamera{}
	p.SetKeyframeSource(cam)
	seq := uint64(0)
	// write hands one frame to the pipeline; sent ones are waited for, so
	// that none is replaced by the next (newest wins) in this test.
	write := func(au []byte, dropped uint64, sent bool) uint64 {
		seq++
		f := h264Frame(au, seq)
		f.Dropped = dropped
		p.WriteFrame(f)
		if sent {
			n := seq
			o.waitAU(t, fmt.Sprintf("frame %d", n), func(au AU) bool { return au.Seq == n })
		}
		return seq
	}
	write(aus[0], 0, true)
	write(aus[1], 0, true)
	truncated := aus[2][:7] // cut inside the first slice's header
	bad := write(truncated, 0, false)
	after := write(aus[3], 0, false) // refers to the frame that was dropped
	write(aus[15], 0, true)          // the next IDR
	st := p.Stats()
	if st.Corrupt != 1 || st.BadNAL != 1 {
		t.Errorf("corrupt %d, bad NAL units %d, want 1 and 1", st.Corrupt, st.BadNAL)
	}
	if n := cam.asked.Load(); n != 1 {
		t.Errorf("the camera was asked for %d IDRs, want 1", n)
	}

	// A gap in the camera's sequence: frames after it wait for an IDR.
	write(aus[16], 0, true)
	gapped := write(aus[18], 1, false)
	write(aus[30], 1, true)
	if n := cam.asked.Load(); n != 2 {
		t.Errorf("the camera was asked for %d IDRs after the gap, want 2", n)
	}

	// Garbage that is not a slice is left out; the picture goes on.
	var nals [][]byte
	for nal, rest := NextNAL(aus[31]); nal != nil; nal, rest = NextNAL(rest) {
		nals = append(nals, nal)
	}
	junk := append(bytes.Clone(aus[31]), 0, 0, 0, 1, 0x1e, 0xff)
	kept := write(junk, 1, true)
	for _, au := range o.snapshot() {
		if au.Seq == bad || au.Seq == after || au.Seq == gapped {
			t.Fatalf("frame %d was passed on", au.Seq)
		}
		if au.Seq == kept && !bytes.Equal(au.Data, annexB(nals...)) {
			t.Errorf("passed on %x, want the access unit without the junk", au.Data)
		}
	}
	if st := p.Stats(); st.BadNAL != 2 || st.Corrupt != 1 || p.CorruptFrames() != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestH264NoParamSets: an IDR that nothing could decode (the camera's SPS
// and PPS were never seen: sent once, with a frame that was lost) is not
// handed on; Err says why and the camera is asked for an IDR; once the
// sets come, the stream starts and the error clears.
func TestH264NoParamSets(t *testing.T) {
	aus := recordedAUs(t)
	sps, pps, _, _ := recordedNALs(t)
	o := newRecOutput()
	p := newPipeline(t, Config{}, o)
	cam := &keyCamera{}
	p.SetKeyframeSource(cam)
	p.WriteFrame(h264Frame(stripSetsAU(aus[15]), 1))
	if p.Err() == "" || cam.asked.Load() != 1 {
		t.Fatalf("IDR without sets: err %q, camera asked %d times", p.Err(), cam.asked.Load())
	}
	p.WriteFrame(h264Frame(stripSetsAU(aus[16]), 2))
	p.WriteFrame(h264Frame(append(annexB(sps, pps), stripSetsAU(aus[30])...), 3))
	o.waitAU(t, "the IDR with sets", func(au AU) bool { return au.Seq == 3 && au.Key })
	if p.Err() != "" {
		t.Errorf("error after the sets came: %q", p.Err())
	}
	for _, au := range o.snapshot() {
		if au.Seq < 3 {
			t.Errorf("frame %d handed on before the sets", au.Seq)
		}
	}
}

func stripSetsAU(au []byte) []byte {
	var out []byte
	for nal, rest := NextNAL(au); nal != nil; nal, rest = NextNAL(rest) {
		if t := nal[0] & 0x1f; t != NALSPS && t != NALPPS {
			out = append(append(out, 0, 0, 0, 1), nal...)
		}
	}
	return out
}
