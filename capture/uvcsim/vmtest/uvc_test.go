// SPDX-License-Identifier: Apache-2.0

//go:build vm && linux && cgo

package vmtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/capture/internal/vmguest"

	"github.com/vladimirvivien/go4vl/v4l2"
	"golang.org/x/sys/unix"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/agenttest"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/capture/uvcsim"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

const product = "camnode uvcsim webcam"

// The webcam stays plugged across tests; TestUVCUnplugReplug replugs it.
var (
	camMu   sync.Mutex
	plugged *uvcsim.Plugged
	camDev  *uvcsim.Camera
	jpegs   map[uvcsim.Size][][]byte
	pics    *uvcsim.Pictures
	noNode  bool // set when the camera never enumerated: later tests fail at once
)

func TestMain(m *testing.M) {
	code := m.Run()
	camMu.Lock()
	if plugged != nil {
		_ = plugged.Unplug()
	}
	camMu.Unlock()
	os.Exit(code)
}

// webcam plugs the emulated camera if it is not plugged and returns its
// /dev/video node.
func webcam(t *testing.T) (string, *uvcsim.Camera) {
	t.Helper()
	camMu.Lock()
	if noNode {
		camMu.Unlock()
		t.Fatal("the camera did not enumerate in an earlier test")
	}
	defer func() {
		if t.Failed() {
			noNode = true
		}
	}()
	if jpegs == nil {
		js, err := uvcsim.LoadJPEGs(os.Getenv("CAMNODE_UVC_JPEG"))
		if err != nil {
			camMu.Unlock()
			t.Fatal(err)
		}
		jpegs = js
	}
	if camDev == nil {
		c, err := uvcsim.New(uvcsim.Config{Product: product})
		if err != nil {
			camMu.Unlock()
			t.Fatal(err)
		}
		camDev = c
	}
	if plugged == nil {
		// The plug outlives the test that made it: log to stderr, not t.
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "uvcsim")
		if pics == nil {
			pics = &uvcsim.Pictures{JPEG: jpegs}
		}
		p, err := uvcsim.Plug(camDev, pics, log)
		if err != nil {
			camMu.Unlock()
			t.Fatal(err)
		}
		plugged = p
	}
	cam := camDev
	camMu.Unlock()
	return waitNode(t, 60*time.Second), cam
}

// waitNode waits for uvcvideo's capture node of the emulated camera: the
// video4linux device named after its product string, index 0 (index 1 is
// uvcvideo's metadata node), behind vhci_hcd.
func waitNode(t *testing.T, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if n := findNode(); n != "" {
			return n
		}
		if time.Now().After(deadline) {
			diagnose(t)
			t.Fatalf("no uvcvideo node for %q within %v", product, timeout)
		}
		time.Sleep(100 * time.Millisecond) // sysfs has no event to wait on here; a deadline bounds the wait
	}
}

// diagnose logs what the kernel made of the camera: the video nodes, the
// emulator's counters and the kernel's USB messages.
func diagnose(t *testing.T) {
	t.Helper()
	dirs, _ := filepath.Glob("/sys/class/video4linux/video*")
	for _, d := range dirs {
		name, _ := os.ReadFile(filepath.Join(d, "name"))
		index, _ := os.ReadFile(filepath.Join(d, "index"))
		real, _ := filepath.EvalSymlinks(filepath.Join(d, "device"))
		t.Logf("%s: name %q index %q device %s", d, strings.TrimSpace(string(name)), strings.TrimSpace(string(index)), real)
	}
	camMu.Lock()
	if plugged != nil {
		t.Logf("emulator: %+v", plugged.Session.Stats())
	}
	camMu.Unlock()
	if st, err := os.ReadFile(uvcsim.VHCIDir + "/status"); err == nil {
		t.Logf("vhci status:\n%s", st)
	}
	out, _ := exec.Command("dmesg").CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("dmesg (last 40 lines):\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
}

func findNode() string {
	dirs, _ := filepath.Glob("/sys/class/video4linux/video*")
	for _, d := range dirs {
		name, _ := os.ReadFile(filepath.Join(d, "name"))
		index, _ := os.ReadFile(filepath.Join(d, "index"))
		real, _ := filepath.EvalSymlinks(filepath.Join(d, "device"))
		// uvcvideo names the node "<iProduct>: <iInterface>".
		if !strings.HasPrefix(strings.TrimSpace(string(name)), product) || strings.TrimSpace(string(index)) != "0" || !strings.Contains(real, "vhci_hcd") {
			continue
		}
		dev := "/dev/" + filepath.Base(d)
		if _, err := os.Stat(dev); err == nil {
			return dev
		}
	}
	return ""
}

func monotonic(t *testing.T, seqs []uint64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Errorf("frame %d: sequence %d after %d", i, seqs[i], seqs[i-1])
		}
	}
}

// TestUVCProbe: what uvcvideo makes of the emulated webcam's descriptors,
// read through camnode's own probe and the V4L2 enumeration ioctls, and
// the negotiation: MJPEG at 1280x720@30 from the default preference list,
// YUYV at 1280x720 only at 10 fps (the bus limit a real webcam reports).
func TestUVCProbe(t *testing.T) {
	vmguest.Guest(t)
	dev, cam := webcam(t)
	v, err := capture.NewV4L2(capture.V4L2Config{Device: dev, Width: 1280, Height: 720, FPS: 30, Logger: vmguest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	info, err := v.Probe()
	if err != nil {
		t.Fatal(err)
	}
	want := capture.Format{Width: 1280, Height: 720, Pixel: capture.MJPEG, FPSNum: 30, FPSDen: 1}
	if info.Driver != "uvcvideo" || !strings.HasPrefix(info.Card, product) || !slices.Equal(info.Offered, []string{"MJPG", "YUYV"}) || info.Format != want || info.Audio != "" {
		t.Errorf("Probe = %+v; want uvcvideo %q offering [MJPG YUYV], %v, no audio", info, product, want)
	}
	t.Logf("probe: %s", info)

	fd, err := v4l2.OpenDevice(dev, unix.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string][]string{}
	for _, enc := range []v4l2.FourCCType{v4l2.PixelFmtMJPEG, v4l2.PixelFmtYUYV} {
		fs, err := v4l2.GetFormatFrameSizes(fd, enc)
		if err != nil {
			t.Errorf("frame sizes of %#x: %v", enc, err)
		}
		for _, f := range fs {
			w, h := f.Size.MinWidth, f.Size.MinHeight
			iv, err := v4l2.GetFormatFrameInterval(fd, 0, enc, w, h)
			if err != nil {
				t.Errorf("interval of %dx%d: %v", w, h, err)
			}
			sizes[fmt.Sprint(enc)] = append(sizes[fmt.Sprint(enc)], fmt.Sprintf("%dx%d@%d/%d", w, h, iv.Interval.Min.Denominator, iv.Interval.Min.Numerator))
		}
	}
	v4l2.CloseDevice(fd)
	wantSizes := map[string][]string{
		fmt.Sprint(v4l2.PixelFmtMJPEG): {"640x480@30/1", "1280x720@30/1"},
		fmt.Sprint(v4l2.PixelFmtYUYV):  {"640x480@30/1", "1280x720@10/1"},
	}
	for k, w := range wantSizes {
		if !slices.Equal(sizes[k], w) {
			t.Errorf("sizes and first intervals of %s: %v, want %v", k, sizes[k], w)
		}
	}

	v2, err := capture.NewV4L2(capture.V4L2Config{Device: dev, Width: 1280, Height: 720, FPS: 30,
		Formats: []capture.PixelFormat{capture.YUYV}, Logger: vmguest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	info, err = v2.Probe()
	if want := (capture.Format{Width: 1280, Height: 720, Pixel: capture.YUYV, FPSNum: 10, FPSDen: 1}); err != nil || info.Format != want {
		t.Errorf("YUYV 1280x720@30: %v, %v; want %v", info.Format, err, want)
	}
	t.Logf("device saw probe %v", cam.Probe())
}

// TestUVCMJPEG720: MJPEG 1280x720@30 negotiated through probe/commit;
// every frame is byte for byte one of the recorded JPEGs the camera sent.
func TestUVCMJPEG720(t *testing.T) {
	vmguest.Guest(t)
	dev, cam := webcam(t)
	c := &vmguest.Collector{N: 12, KeepData: true}
	err := vmguest.Stream(t, capture.V4L2Config{Device: dev, Width: 1280, Height: 720, FPS: 30,
		Formats: []capture.PixelFormat{capture.MJPEG, capture.YUYV}}, c, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := capture.Format{Width: 1280, Height: 720, Pixel: capture.MJPEG, FPSNum: 30, FPSDen: 1}
	if c.Format != want || len(c.Data) != c.N {
		t.Fatalf("format %v, %d frames; want %v, %d", c.Format, len(c.Data), want, c.N)
	}
	sent := jpegs[uvcsim.Size{Width: 1280, Height: 720}]
	seen := map[int]int{}
	dec, err := capture.NewJPEGDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var pic capture.Frame
	for i, d := range c.Data {
		k := slices.IndexFunc(sent, func(j []byte) bool { return bytes.Equal(j, d) })
		if k < 0 {
			soi, eoi := bytes.HasPrefix(d, []byte{0xff, 0xd8}), bytes.HasSuffix(d, []byte{0xff, 0xd9})
			t.Errorf("frame %d (seq %d): %d bytes (SOI %v, EOI %v) equal to none of the %d JPEGs sent", i, c.Seqs[i], len(d), soi, eoi, len(sent))
			continue
		}
		seen[k]++
		// The node's decoder (TurboJPEG, as the pipeline runs it) turns the
		// frame into the picture that was stamped: recorded frame k
		// carries counter k.
		if err := dec.Decode(d, &pic); err != nil {
			t.Errorf("frame %d: decode: %v", i, err)
			continue
		}
		if n, _, ok := capture.ReadFrameStamp(&pic); !ok || n != uint32(k) || pic.Format.Width != 1280 || pic.Format.Height != 720 {
			t.Errorf("frame %d: decoded %dx%d, stamp %d (ok %v); want 1280x720, stamp %d", i, pic.Format.Width, pic.Format.Height, n, ok, k)
		}
	}
	monotonic(t, c.Seqs)
	commits := cam.Commits()
	if len(commits) == 0 || commits[len(commits)-1].Pixel != capture.MJPEG || commits[len(commits)-1].Size != (uvcsim.Size{Width: 1280, Height: 720}) ||
		commits[len(commits)-1].Interval != uvcsim.Interval(30) {
		t.Errorf("device commits %v; want the last one MJPEG 1280x720 at 30 fps", commits)
	}
	t.Logf("%d frames, seq %d..%d, recorded JPEGs seen %v", len(c.Data), c.Seqs[0], c.Seqs[len(c.Seqs)-1], seen)
}

// TestUVCYUYV480: raw YUYV 640x480 through uvcvideo; each frame carries the
// stamp the camera painted, counters increasing.
func TestUVCYUYV480(t *testing.T) {
	vmguest.Guest(t)
	dev, _ := webcam(t)
	c := &vmguest.Collector{N: 8, KeepData: true}
	err := vmguest.Stream(t, capture.V4L2Config{Device: dev, Width: 640, Height: 480, FPS: 30,
		Formats: []capture.PixelFormat{capture.YUYV}}, c, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := capture.Format{Width: 640, Height: 480, Pixel: capture.YUYV, FPSNum: 30, FPSDen: 1}
	if c.Format != want || len(c.Data) != c.N {
		t.Fatalf("format %v, %d frames; want %v, %d", c.Format, len(c.Data), want, c.N)
	}
	var counters []uint32
	for i, d := range c.Data {
		f := capture.Frame{Data: d, Format: c.Format}
		n, at, ok := capture.ReadFrameStamp(&f)
		if !ok {
			t.Errorf("frame %d (seq %d, %d bytes): no stamp", i, c.Seqs[i], len(d))
			continue
		}
		if age := time.Since(at); age < 0 || age > time.Minute {
			t.Errorf("frame %d: stamp time %v is not recent", i, at)
		}
		if len(counters) > 0 && n <= counters[len(counters)-1] {
			t.Errorf("frame %d: stamp counter %d after %d", i, n, counters[len(counters)-1])
		}
		counters = append(counters, n)
	}
	monotonic(t, c.Seqs)
	t.Logf("seq %v, stamp counters %v", c.Seqs, counters)
}

// TestUVCUnplugReplug: the cable pulled mid-stream (vhci detach) ends the
// stream with ErrLost; plugged back, the camera streams again.
func TestUVCUnplugReplug(t *testing.T) {
	vmguest.Guest(t)
	dev, _ := webcam(t)
	var once sync.Once
	unplugged := make(chan error, 1)
	c := &vmguest.Collector{N: 1 << 20, KeepData: true}
	c.OnFrame = func(i int, _ *capture.Frame) {
		if i == 3 {
			once.Do(func() {
				go func() {
					camMu.Lock()
					p := plugged
					plugged = nil
					camMu.Unlock()
					unplugged <- p.Unplug()
				}()
			})
		}
	}
	cfg := capture.V4L2Config{Device: dev, Width: 640, Height: 480, FPS: 30, Formats: []capture.PixelFormat{capture.YUYV}}
	err := vmguest.Stream(t, cfg, c, 60*time.Second)
	if !errors.Is(err, capture.ErrLost) {
		t.Fatalf("Stream after unplug = %v, want ErrLost", err)
	}
	t.Logf("after %d frames: %v", len(c.Seqs), err)
	select {
	case uerr := <-unplugged:
		if uerr != nil {
			t.Fatalf("unplug: %v", uerr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("unplug did not finish")
	}
	monotonic(t, c.Seqs)
	for deadline := time.Now().Add(30 * time.Second); findNode() != ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("video node %s still there 30s after unplug", findNode())
		}
	}

	dev2, _ := webcam(t)
	c2 := &vmguest.Collector{N: 3, KeepData: true}
	cfg.Device = dev2
	if err := vmguest.Stream(t, cfg, c2, 60*time.Second); err != nil || len(c2.Data) < 3 {
		t.Fatalf("after replug (%s): %v, %d frames", dev2, err, len(c2.Data))
	}
	f := capture.Frame{Data: c2.Data[2], Format: c2.Format}
	if _, _, ok := capture.ReadFrameStamp(&f); !ok {
		t.Error("frame after replug carries no stamp")
	}
	t.Logf("streaming again on %s after replug", dev2)
}

// nodeCaps is what camnode's own build tells Choose (cmd/camnode newCamera).
var nodeCaps = &capture.Capabilities{Encode: pipeline.HaveEncoder, DecodeMJPEG: capture.HaveJPEGDecoder}

// TestUVCNegotiation: with camnode's default camera.formats and what this
// build can show, the node picks, among what the webcam offers, MJPEG at
// 1280x720@30 (raw YUYV reaches only 10 fps there) and raw YUYV at
// 640x480@30 (cheaper than decoding MJPEG, and the bus carries it); each
// choice is what the device then sees committed and streams.
func TestUVCNegotiation(t *testing.T) {
	vmguest.Guest(t)
	dev, cam := webcam(t)
	var formats []capture.PixelFormat
	for _, f := range config.Default().Camera.Formats {
		formats = append(formats, capture.PixelFormat(f))
	}
	for _, c := range []struct {
		size uvcsim.Size
		want capture.PixelFormat
	}{
		{uvcsim.Size{Width: 1280, Height: 720}, capture.MJPEG},
		{uvcsim.Size{Width: 640, Height: 480}, capture.YUYV},
	} {
		cfg := capture.V4L2Config{Device: dev, Width: c.size.Width, Height: c.size.Height, FPS: 30, Formats: formats, Can: nodeCaps,
			Logger: vmguest.Logger(t)}
		v, err := capture.NewV4L2(cfg)
		if err != nil {
			t.Fatal(err)
		}
		info, err := v.Probe()
		want := capture.Format{Width: c.size.Width, Height: c.size.Height, Pixel: c.want, FPSNum: 30, FPSDen: 1}
		if err != nil || info.Format != want || info.Choice.Pixel != c.want {
			t.Errorf("%s@30 with %v: probe %v, choice %v, %v; want %v", c.size, formats, info.Format, info.Choice, err, want)
			continue
		}
		t.Logf("%s@30: chose %v: %s", c.size, info.Choice, info.Reason)
		col := &vmguest.Collector{N: 3}
		if err := vmguest.Stream(t, cfg, col, 60*time.Second); err != nil || col.Format != want {
			t.Errorf("%s@30: streamed %v, %v; want %v", c.size, col.Format, err, want)
			continue
		}
		commits := cam.Commits()
		if len(commits) == 0 || commits[len(commits)-1].Pixel != c.want || commits[len(commits)-1].Size != c.size ||
			commits[len(commits)-1].Interval != uvcsim.Interval(30) {
			t.Errorf("%s@30: device commits %v; want the last one %s %s at 30 fps", c.size, commits, c.size, c.want)
		}
	}
}

// auCounter is a pipeline output that always wants the stream and counts
// the access units it is given.
type auCounter struct{ n atomic.Uint64 }

func (o *auCounter) WriteAU(*pipeline.AU) { o.n.Add(1) }
func (o *auCounter) Cut()                 {}
func (o *auCounter) Wanted() bool         { return true }

// TestUVCAgentCorruptUnplug is the node's story with a real webcam's
// troubles, through uvcvideo: the agent streams MJPEG 640x480 from the
// emulated webcam into the pipeline (TurboJPEG decode, x264) while the
// camera sends every 5th frame damaged (truncated, garbage in the entropy
// data, no EOI in turn): the status counts them as corrupt and encoding
// goes on. Then the cable is pulled: the status shows a camera fault, the
// LED is off. Plugged back (the node's device path is a symlink to the new
// node, as udev's /dev/v4l/by-id link is), the agent streams again by
// itself and the fault clears.
func TestUVCAgentCorruptUnplug(t *testing.T) {
	vmguest.Guest(t)
	dev, _ := webcam(t)
	link := filepath.Join(t.TempDir(), "usb-camnode-webcam-video-index0")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	camMu.Lock()
	p := pics
	camMu.Unlock()
	p.SetCorruptEvery(5)
	defer p.SetCorruptEvery(0)
	sent0 := p.CorruptSent()

	log := vmguest.Logger(t)
	out := &auCounter{}
	pipe, err := pipeline.New(pipeline.Config{Logger: log.With("component", "pipeline")}, out)
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	cam, err := capture.NewV4L2(capture.V4L2Config{Device: link, Width: 640, Height: 480, FPS: 30,
		Formats: []capture.PixelFormat{capture.MJPEG}, Can: nodeCaps, Logger: log.With("component", "capture")})
	if err != nil {
		t.Fatal(err)
	}
	led := &gpiotest.LED{}
	a, err := agent.New(agent.Config{
		Identity: firmware.Identity{NodeID: "vm-uvc", Site: "VM", Room: "Test room", ZoneClass: "reception",
			Installer: "vm-test", IssuedAt: time.Now(), InitialPrivacy: "off"},
		StatePath: filepath.Join(t.TempDir(), "privacy.json"),
		Timing:    agent.Timing{RetryMin: 100 * time.Millisecond, RetryMax: time.Second},
		Logger:    log.With("component", "agent"),
	}, agent.Deps{LED: led, Shutter: &gpiotest.Shutter{}, Camera: cam, Sinks: []agent.FrameSink{pipe},
		Audio: capture.AudioGuard{Root: os.DirFS("/"), Interval: time.Hour, DevDir: "/dev", Logger: log}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	}()

	agenttest.WaitStatus(t, a, "streaming", vmguest.StreamDeadline, func(s agent.Status) bool { return s.Capture == "streaming" && s.LED })
	st := agenttest.WaitStatus(t, a, "corrupt frames counted", vmguest.StreamDeadline, func(s agent.Status) bool { return s.CorruptFrames >= 2 })
	enc := out.n.Load()
	// Streaming goes on past the corrupt frames: more pictures encoded,
	// more corrupt frames counted, no fault.
	st = agenttest.WaitStatus(t, a, "encoding past the corrupt frames", vmguest.StreamDeadline, func(s agent.Status) bool {
		return out.n.Load() >= enc+10 && s.CorruptFrames > st.CorruptFrames && s.Capture == "streaming" && len(s.Faults) == 0
	})
	ps := pipe.Stats()
	if sent := p.CorruptSent() - sent0; st.CorruptFrames > sent || ps.Unsupported != 0 || pipe.Err() != "" {
		t.Errorf("status counts %d corrupt of %d sent; pipeline %+v, err %q", st.CorruptFrames, sent, ps, pipe.Err())
	}
	t.Logf("corrupt: %d counted (%d sent); pipeline %+v", st.CorruptFrames, p.CorruptSent()-sent0, ps)

	// The cable pulled.
	camMu.Lock()
	pl := plugged
	plugged = nil
	camMu.Unlock()
	unplugged := make(chan error, 1)
	go func() { unplugged <- pl.Unplug() }()
	st = agenttest.WaitStatus(t, a, "camera fault after unplug", vmguest.StreamDeadline, func(s agent.Status) bool {
		return s.Faults["camera"] != "" && !s.LED && s.Capture != "streaming"
	})
	t.Logf("after unplug: capture %s, fault %q", st.Capture, st.Faults["camera"])
	select {
	case err := <-unplugged:
		if err != nil {
			t.Fatalf("unplug: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("unplug did not finish")
	}
	if led.On() {
		t.Error("LED on with the camera unplugged")
	}

	// Plugged back: udev would re-point the by-id link; the test does.
	dev2, _ := webcam(t)
	tmp := link + ".new"
	if err := os.Symlink(dev2, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	enc = out.n.Load()
	agenttest.WaitStatus(t, a, "streaming again after replug", vmguest.StreamDeadline, func(s agent.Status) bool {
		return s.Capture == "streaming" && s.LED && s.Faults["camera"] == "" && out.n.Load() >= enc+5
	})
	t.Logf("streaming again on %s (was %s)", dev2, dev)
}

// TestUVCRecord records what uvcvideo delivers from the emulated webcam
// (MJPEG 640x480, every 4th frame damaged) for the host's browser test
// (agent/liveview TestBrowserLiveViewUVCRecording). It runs only with
// CAMNODE_UVC_RECORD=1 (scripts/vm-test --record-uvc DIR), and prints each
// frame base64-encoded on lines "CAMNODE-UVCREC <name> <chunk>", which
// scripts/vm-test writes back into DIR.
func TestUVCRecord(t *testing.T) {
	vmguest.Guest(t)
	if os.Getenv("CAMNODE_UVC_RECORD") != "1" {
		t.Skip("CAMNODE_UVC_RECORD=1 not set")
	}
	dev, _ := webcam(t)
	camMu.Lock()
	p := pics
	camMu.Unlock()
	p.SetCorruptEvery(4)
	defer p.SetCorruptEvery(0)
	c := &vmguest.Collector{N: 12, KeepData: true}
	if err := vmguest.Stream(t, capture.V4L2Config{Device: dev, Width: 640, Height: 480, FPS: 30,
		Formats: []capture.PixelFormat{capture.MJPEG}}, c, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	for i, d := range c.Data {
		name := fmt.Sprintf("%02d-seq%d.mjpg", i, c.Seqs[i])
		s := base64.StdEncoding.EncodeToString(d)
		for len(s) > 0 {
			n := min(len(s), 1024)
			fmt.Printf("CAMNODE-UVCREC %s %s\n", name, s[:n])
			s = s[n:]
		}
	}
}
