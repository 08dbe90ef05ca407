// SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/capture"
)

// Defaults.
const (
	DefaultBitrateKbps = 1500
	DefaultFPS         = 30
	// DefaultKeyInterval is the longest time between two IDRs of the
	// encoded stream, so that recorders can cut segments and late
	// joiners get a picture.
	DefaultKeyInterval = 2 * time.Second
)

// AU is one encoded H.264 access unit handed to the outputs.
type AU struct {
	// Data is the access unit, Annex-B. It belongs to the pipeline and is
	// valid only during Output.WriteAU.
	Data []byte
	// Time, Seq: capture time and sequence number of the frame it was
	// built from.
	Time time.Time
	Seq  uint64
	Key  bool // holds an IDR, preceded by SPS and PPS
}

// Output consumes the encoded stream (the live view; the recorder stream).
type Output interface {
	// WriteAU is called from the pipeline goroutine for each access unit,
	// holding the pipeline's read lock: it must not block for long.
	WriteAU(*AU)
	// Cut is called from Pipeline.Cut with the privacy gate held closed,
	// after the pipeline's epoch moved on (no AU of the old epoch can be
	// written any more). It must close every session and drop every
	// buffered or retransmittable packet before it returns.
	Cut()
	// Wanted reports whether the output wants the stream now (someone is
	// watching or recording). Nothing is decoded or encoded while no
	// output wants it.
	Wanted() bool
}

// Masker blanks the privacy masks of a raw picture in place (issue 13).
// The pipeline calls Apply on every picture it encodes, after decoding and
// conversion (I420 or NV12) and before the encoder sees it; no output ever
// gets a picture that did not pass through it. An error means the picture
// could not be masked: it is dropped (never encoded) and the error is the
// pipeline's Err. A pipeline with a Masker never passes H.264 through (a
// compressed picture cannot be masked).
type Masker interface {
	Apply(f *capture.Frame) error
}

// Config configures a Pipeline.
type Config struct {
	BitrateKbps int // encoder target, default DefaultBitrateKbps
	// FPS caps the frames per second encoded (and the encoder's rate
	// control); default DefaultFPS.
	FPS int
	// KeyInterval is the longest time between IDRs, default
	// DefaultKeyInterval.
	KeyInterval time.Duration
	// Masker, if set, is applied to every raw picture before encoding.
	Masker Masker
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.BitrateKbps == 0 {
		c.BitrateKbps = DefaultBitrateKbps
	}
	if c.FPS == 0 {
		c.FPS = DefaultFPS
	}
	if c.KeyInterval == 0 {
		c.KeyInterval = DefaultKeyInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if c.BitrateKbps < 100 || c.BitrateKbps > 20000 {
		errs = append(errs, fmt.Errorf("BitrateKbps %d: want 100..20000", c.BitrateKbps))
	}
	if c.FPS < 1 || c.FPS > 60 {
		errs = append(errs, fmt.Errorf("FPS %d: want 1..60", c.FPS))
	}
	if c.KeyInterval < 100*time.Millisecond || c.KeyInterval > time.Minute {
		errs = append(errs, fmt.Errorf("KeyInterval %v: want 100ms..1m", c.KeyInterval))
	}
	if len(errs) > 0 {
		return fmt.Errorf("pipeline: %w", errors.Join(errs...))
	}
	return nil
}

// Encoder encodes raw pictures into H.264 access units.
type Encoder interface {
	// Encode encodes one tightly packed I420 or NV12 picture and appends
	// the access unit (Annex-B; possibly empty) to dst.
	Encode(dst, pic []byte, key bool) ([]byte, error)
	Close()
}

// Stats counts what the pipeline did since it was made.
type Stats struct {
	Encoded uint64 // access units handed to the outputs
	// Corrupt counts frames skipped as corrupt: MJPEG frames that do not
	// decode, H.264 access units with a broken slice or nothing sound in
	// them (AUChecker).
	Corrupt uint64
	// BadNAL counts the H.264 NAL units left out as broken (AUChecker),
	// also those of access units skipped whole.
	BadNAL      uint64
	Unsupported uint64 // MJPEG frames the decoder does not take
	Replaced    uint64 // frames replaced by a newer one before encoding
	Taken       uint64 // frames the pipeline goroutine took and finished with
}

// Pipeline is the node's one frame stage: capture -> gate -> pipeline ->
// outputs. It is an agent.FrameSink. See the package documentation.
type Pipeline struct {
	cfg    Config
	log    *slog.Logger
	minGap time.Duration

	// mu guards the epoch and the outputs. The pipeline goroutine writes
	// access units holding the read lock; Cut takes the write lock to bump
	// the epoch, so no access unit of an old epoch is written after Cut
	// has taken it.
	mu    sync.RWMutex
	epoch uint64
	outs  []Output
	// err is why frames cannot be shown (encoder, masks), or "". Atomic,
	// not under mu: outputs read it holding their own locks, which
	// emit takes holding mu.
	err atomic.Pointer[string]

	epochA  atomic.Uint64 // mirror of epoch for the capture goroutine
	live    atomic.Bool   // frames are flowing: set by WriteFrame, cleared by Cut
	wantKey atomic.Bool

	// capture goroutine only (WriteFrame)
	lastIn  time.Time
	inEpoch uint64
	ps      paramSets // H.264: the camera's newest SPS and PPS
	chk     AUChecker // H.264: what is broken is left out
	waitIDR bool      // H.264: drop until the camera's next IDR
	gaps    uint64    // H.264: the last frame's Dropped (camera sequence gaps)

	keys atomic.Pointer[KeyframeSource] // the camera, asked for IDRs

	encoded, corrupt, unsupported, replaced, taken, badNAL atomic.Uint64
	masked                                                 atomic.Uint64 // pictures dropped because they could not be masked

	// newest-wins hand-off from the capture goroutine to the pipeline
	// goroutine.
	pmu     sync.Mutex
	pending *slot
	spare   []*slot
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	closed  sync.Once

	// pipeline goroutine state
	enc      Encoder
	encFmt   capture.Format
	encFull  bool
	encEpoch uint64
	jpeg     *capture.JPEGDecoder
	pic      capture.Frame // decoded or converted picture
	buf      []byte        // access unit being built
	au       AU
}

// slot is one pooled copy of a captured frame.
type slot struct {
	f     capture.Frame // Data owned by the slot
	epoch uint64
}

// New starts a pipeline feeding outs (more can be added with Add). Close
// stops it.
func New(cfg Config, outs ...Output) (*Pipeline, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg: cfg, log: cfg.Logger,
		minGap: time.Second / time.Duration(cfg.FPS) * 8 / 10,
		outs:   outs,
		spare:  []*slot{{}, {}},
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		// H.264 passthrough starts at the camera's first IDR.
		waitIDR: true,
	}
	go p.run()
	return p, nil
}

// Add attaches an output. Remove detaches it; after Remove returns, it is
// given no further access unit.
func (p *Pipeline) Add(o Output) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outs = append(p.outs[:len(p.outs):len(p.outs)], o)
}

// Remove detaches an output.
func (p *Pipeline) Remove(o Output) {
	p.mu.Lock()
	defer p.mu.Unlock()
	outs := make([]Output, 0, len(p.outs))
	for _, x := range p.outs {
		if x != o {
			outs = append(outs, x)
		}
	}
	p.outs = outs
}

// Live reports whether frames have been flowing since the last Cut.
func (p *Pipeline) Live() bool { return p.live.Load() }

// Err returns why the stream cannot be shown (no encoder in this build,
// an encoder that failed to open, H.264 with masks set), or "".
func (p *Pipeline) Err() string {
	if e := p.err.Load(); e != nil {
		return *e
	}
	return ""
}

// RequestKeyframe asks for an IDR on the next encoded frame (a viewer
// joined, PLI/FIR). An H.264 camera's stream is passed through, not
// encoded: the request goes to the camera (SetKeyframeSource), where it
// can be asked; where it cannot, a joining viewer waits for the camera's
// next IDR, at most one keyframe interval of the camera.
func (p *Pipeline) RequestKeyframe() {
	p.wantKey.Store(true)
	p.askCamera()
}

// KeyframeSource is a camera that can be asked for an IDR:
// capture.V4L2 through V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME. RequestKeyframe
// reports whether the streaming device can be asked at all.
type KeyframeSource interface {
	RequestKeyframe() bool
}

// SetKeyframeSource sets the camera that RequestKeyframe, and a broken or
// missing H.264 access unit, asks for an IDR.
func (p *Pipeline) SetKeyframeSource(k KeyframeSource) {
	if k == nil {
		p.keys.Store(nil)
		return
	}
	p.keys.Store(&k)
}

func (p *Pipeline) askCamera() {
	if k := p.keys.Load(); k != nil {
		(*k).RequestKeyframe()
	}
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{Encoded: p.encoded.Load(), Corrupt: p.corrupt.Load(), BadNAL: p.badNAL.Load(),
		Unsupported: p.unsupported.Load(), Replaced: p.replaced.Load(), Taken: p.taken.Load()}
}

// CorruptFrames implements agent.CorruptCounter: frames skipped as
// corrupt since start (Stats.Corrupt).
func (p *Pipeline) CorruptFrames() uint64 { return p.corrupt.Load() }

// Viewers implements agent.ViewerCounter by summing its outputs'.
func (p *Pipeline) Viewers() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, o := range p.outs {
		if vc, ok := o.(interface{ Viewers() int }); ok {
			n += vc.Viewers()
		}
	}
	return n
}

// RecorderSessions implements agent.RecorderCounter by summing its
// outputs' (the RTSPS recorder stream's readers).
func (p *Pipeline) RecorderSessions() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, o := range p.outs {
		if rc, ok := o.(interface{ RecorderSessions() int }); ok {
			n += rc.RecorderSessions()
		}
	}
	return n
}

// Push implements agent.PushReporter: the target of the output that
// pushes to the hub (the publisher, agent/recorder/push) and whether it
// is connected; "" when no output pushes.
func (p *Pipeline) Push() (target string, connected bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, o := range p.outs {
		if pr, ok := o.(interface {
			Target() string
			Connected() bool
		}); ok {
			return pr.Target(), pr.Connected()
		}
	}
	return "", false
}

func (p *Pipeline) wanted() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, o := range p.outs {
		if o.Wanted() {
			return true
		}
	}
	return false
}

// WriteFrame implements agent.FrameSink. It never blocks on decoding or
// encoding: the frame is copied into a pooled slot that replaces any frame
// the pipeline goroutine has not yet taken (newest wins).
func (p *Pipeline) WriteFrame(f *capture.Frame) {
	if !p.live.Load() {
		p.live.Store(true)
	}
	if f.Format.Pixel == capture.H264 {
		p.writeH264(f)
		return
	}
	if !p.wanted() {
		return
	}
	if !p.lastIn.IsZero() && f.Time.Sub(p.lastIn) < p.minGap && f.Time.After(p.lastIn) {
		return
	}
	need := len(f.Data)
	if n := f.Format.FrameSize(); n > 0 {
		if len(f.Data) < n {
			return
		}
		need = n
	}
	if need == 0 {
		return
	}
	p.lastIn = f.Time
	sl, _ := p.take()
	if sl == nil {
		return
	}
	data := append(sl.f.Data[:0], f.Data[:need]...)
	p.hand(sl, f, data, f.Key)
}

// writeH264 hands on one access unit of an H.264 camera. Every access
// unit is checked first (AUChecker): broken NAL units are left out and
// counted, an access unit with a broken slice is skipped whole and
// counted as corrupt. The parameter sets are cached here, on the capture
// goroutine, from every frame (also while no output wants the stream, and
// before any frame could be replaced), and every IDR is sent with them
// first (paramSets.prepend). A stream starts, and restarts after a Cut, a
// replaced or skipped frame or a gap in the camera's sequence (frames
// that later ones may refer to), at the camera's next IDR, which is asked
// for where the camera can be asked (SetKeyframeSource).
func (p *Pipeline) writeH264(f *capture.Frame) {
	if ep := p.epochA.Load(); ep != p.inEpoch {
		p.inEpoch = ep
		p.ps.reset() // nothing from before the cut is sent after it
		p.waitIDR = true
	}
	au, bad, ok := p.chk.Check(f.Data)
	gap := f.Dropped != p.gaps
	p.gaps = f.Dropped
	if bad > 0 {
		p.badNAL.Add(uint64(bad))
	}
	if !ok {
		p.corrupt.Add(1)
		p.restart()
		return
	}
	idr := p.ps.scan(au)
	if !p.wanted() {
		p.waitIDR = true
		return
	}
	if gap && !idr && !p.waitIDR {
		p.restart() // a frame this one may refer to never came
		return
	}
	if !idr && p.waitIDR {
		return
	}
	if idr && !p.ps.ready() {
		// Nothing could decode it: say so, and ask the camera again.
		p.setErr(errNoParamSets)
		p.waitIDR = true
		p.askCamera()
		return
	}
	if idr && p.Err() == errNoParamSets {
		p.setErr("")
	}
	sl, replaced := p.take()
	if sl == nil || (replaced && !idr) {
		p.restart()
		if sl != nil {
			p.put(sl)
		}
		return
	}
	p.waitIDR = false
	var data []byte
	if idr {
		data = p.ps.prepend(sl.f.Data[:0], au)
	} else {
		data = append(sl.f.Data[:0], au...)
	}
	p.hand(sl, f, data, idr)
}

// errNoParamSets is the pipeline's Err while an H.264 camera's IDRs cannot
// be decoded for want of parameter sets.
const errNoParamSets = "H.264 camera: no SPS and PPS seen since the stream started (the camera sends them with its first IDR only?); nothing can be shown until it sends them again"

// restart makes H.264 passthrough wait for the camera's next IDR and asks
// the camera for one, unless it is already waiting (one request per wait).
func (p *Pipeline) restart() {
	if !p.waitIDR {
		p.waitIDR = true
		p.askCamera()
	}
}

// take returns a free slot, or the pending one (replaced: its frame is
// dropped, newest wins), or nil.
func (p *Pipeline) take() (sl *slot, replaced bool) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	sl = p.pending
	p.pending = nil
	if sl != nil {
		p.replaced.Add(1)
		return sl, true
	}
	if len(p.spare) > 0 {
		sl = p.spare[len(p.spare)-1]
		p.spare = p.spare[:len(p.spare)-1]
		return sl, false
	}
	p.replaced.Add(1) // both slots busy: cannot happen with one pipeline goroutine
	return nil, false
}

// put returns an unused slot.
func (p *Pipeline) put(sl *slot) {
	p.pmu.Lock()
	p.spare = append(p.spare, sl)
	p.pmu.Unlock()
}

// hand fills sl with f's metadata, data (already copied into the slot's
// buffer) and key flag, and makes it the pending frame.
func (p *Pipeline) hand(sl *slot, f *capture.Frame, data []byte, key bool) {
	sl.f = *f
	sl.f.Data, sl.f.Key = data, key
	sl.epoch = p.epochA.Load()
	p.pmu.Lock()
	p.pending = sl
	p.pmu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Cut implements agent.FrameSink and is the one place a privacy cut
// reaches every output: with the gate held closed it moves to a new epoch
// (no access unit built from a frame captured before it is written after
// it; the next frame starts a fresh encoder with an IDR), drops the pending
// frame, and calls every output's Cut before returning.
func (p *Pipeline) Cut() {
	p.mu.Lock()
	p.epoch++
	p.epochA.Store(p.epoch)
	p.live.Store(false)
	outs := p.outs
	p.mu.Unlock()

	p.pmu.Lock()
	if p.pending != nil {
		p.spare = append(p.spare, p.pending)
		p.pending = nil
	}
	p.pmu.Unlock()

	for _, o := range outs {
		o.Cut()
	}
}

// Close cuts every output and stops the pipeline goroutine.
func (p *Pipeline) Close() {
	p.closed.Do(func() {
		p.Cut()
		close(p.quit)
		<-p.done
	})
}

// run is the pipeline goroutine: it takes the newest pending frame,
// decodes, converts, masks and encodes it (or passes H.264 through) and
// hands the access unit to every output.
func (p *Pipeline) run() {
	defer close(p.done)
	defer func() {
		p.closeEncoder()
		if p.jpeg != nil {
			p.jpeg.Close()
		}
	}()
	for {
		select {
		case <-p.quit:
			return
		case <-p.wake:
		}
		p.pmu.Lock()
		sl := p.pending
		p.pending = nil
		p.pmu.Unlock()
		if sl == nil {
			continue
		}
		p.process(sl)
		p.taken.Add(1)
		p.pmu.Lock()
		p.spare = append(p.spare, sl)
		p.pmu.Unlock()
	}
}

func (p *Pipeline) process(sl *slot) {
	if sl.epoch != p.epochA.Load() {
		return // captured before a Cut
	}
	key := p.wantKey.Swap(false)
	if sl.epoch != p.encEpoch {
		// A new epoch (privacy was on in between) starts from nothing: a
		// fresh encoder and an IDR, so nothing refers to pictures from
		// before (passthrough restarts at the camera's next IDR, see
		// writeH264).
		p.encEpoch = sl.epoch
		p.closeEncoder()
		key = true
	}
	f := &sl.f
	if f.Format.Pixel == capture.H264 {
		if p.cfg.Masker != nil {
			p.setErr("masks are set: an H.264 camera stream cannot be masked; choose a raw or MJPEG format")
			return
		}
		p.emit(sl.epoch, f, f.Data, f.Key)
		return
	}
	pic, full, ok := p.raw(f)
	if !ok {
		return
	}
	if p.cfg.Masker != nil {
		if err := p.cfg.Masker.Apply(pic); err != nil {
			p.masked.Add(1)
			p.setErr("privacy masks: " + err.Error() + ": frame dropped")
			return
		}
	}
	if p.enc == nil || p.encFmt != pic.Format || p.encFull != full {
		p.closeEncoder()
		keyint := int(p.cfg.KeyInterval * time.Duration(p.cfg.FPS) / time.Second)
		enc, err := NewEncoder(pic.Format, p.cfg.FPS, p.cfg.BitrateKbps, keyint, full)
		if err != nil {
			p.setErr(err.Error())
			return
		}
		p.enc, p.encFmt, p.encFull = enc, pic.Format, full
		p.setErr("")
		key = true
	}
	var err error
	if p.buf, err = p.enc.Encode(p.buf[:0], pic.Data, key); err != nil {
		p.log.Warn("pipeline: encode failed", "err", err)
		p.closeEncoder()
		return
	}
	if len(p.buf) == 0 {
		return
	}
	p.emit(sl.epoch, f, p.buf, IsKeyAU(p.buf))
}

// raw returns f as a picture the encoder takes (I420 or NV12), decoding
// MJPEG and converting YUYV into the pipeline's own frame; full reports a
// full-range picture (JPEG). Corrupt JPEGs are skipped and counted.
func (p *Pipeline) raw(f *capture.Frame) (pic *capture.Frame, full, ok bool) {
	switch f.Format.Pixel {
	case capture.I420, capture.NV12:
		return f, false, true
	case capture.YUYV:
		yuyvToI420(&p.pic, f.Data, f.Format.Width, f.Format.Height)
	case capture.MJPEG:
		if p.jpeg == nil {
			d, err := capture.NewJPEGDecoder()
			if err != nil {
				p.setErr(err.Error())
				return nil, false, false
			}
			p.jpeg = d
		}
		if err := p.jpeg.Decode(f.Data, &p.pic); err != nil {
			switch {
			case errors.Is(err, capture.ErrCorruptJPEG):
				p.corrupt.Add(1)
			default:
				p.unsupported.Add(1)
				p.log.Warn("pipeline: MJPEG frame not decoded", "err", err)
			}
			return nil, false, false
		}
		full = true
	default:
		p.setErr(fmt.Sprintf("pipeline: cannot show %s frames", f.Format.Pixel))
		return nil, false, false
	}
	p.pic.Seq, p.pic.Dropped, p.pic.Time, p.pic.Key = f.Seq, f.Dropped, f.Time, false
	p.pic.Format.FPSNum, p.pic.Format.FPSDen = f.Format.FPSNum, f.Format.FPSDen
	return &p.pic, full, true
}

// emit hands one access unit to every output, unless a Cut came first.
func (p *Pipeline) emit(epoch uint64, f *capture.Frame, data []byte, key bool) {
	p.au = AU{Data: data, Time: f.Time, Seq: f.Seq, Key: key}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if epoch != p.epoch {
		return
	}
	for _, o := range p.outs {
		o.WriteAU(&p.au)
	}
	p.encoded.Add(1)
}

func (p *Pipeline) closeEncoder() {
	if p.enc != nil {
		p.enc.Close()
		p.enc = nil
	}
}

func (p *Pipeline) setErr(msg string) {
	if p.Err() != msg {
		p.err.Store(&msg)
	}
}
