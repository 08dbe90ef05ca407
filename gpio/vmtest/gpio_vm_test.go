// SPDX-License-Identifier: Apache-2.0

//go:build vm && linux

package vmtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/agenttest"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio"
	"github.com/camnode/camnode/gpio/mcp2221sim"
)

// driverLabel is the gpiochip label hid-mcp2221 registers.
const driverLabel = "mcp2221_gpio"

// chipDeadline bounds the wait for the driver's probe. On Linux 6.1 it takes
// about 24 s whatever the emulator does: the probe does not call
// hid_device_io_start, so HID core drops every reply during the probe and
// each of its 6 requests (I2C speed, cancel, 4 get_direction from gpiolib)
// waits out the driver's 4 s timeout.
const chipDeadline = 60 * time.Second

var (
	emu      *mcp2221sim.Device
	emuErr   error
	emuStart time.Time
)

// TestMain starts the emulator before any test, so the driver's probe
// overlaps whatever runs first; scripts/vm-test starts this binary at the
// top of /init for the same reason.
func TestMain(m *testing.M) {
	if os.Getenv("CAMNODE_VM") == "1" {
		emuStart = time.Now()
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		emu, emuErr = mcp2221sim.Start(mcp2221sim.Config{Logger: log.With("component", "mcp2221sim"), LogReports: 16})
	}
	code := m.Run()
	if emu != nil {
		if err := emu.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func guest(t *testing.T) {
	t.Helper()
	if os.Getenv("CAMNODE_VM") != "1" {
		t.Skip("not in the test VM (scripts/vm-test)")
	}
}

// recorder is a slog handler that also keeps each record's message.
type recorder struct {
	slog.Handler
	mu   *sync.Mutex
	msgs *[]string
}

func (r recorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	*r.msgs = append(*r.msgs, rec.Message)
	r.mu.Unlock()
	return r.Handler.Handle(ctx, rec)
}

func (r recorder) WithAttrs(a []slog.Attr) slog.Handler {
	return recorder{r.Handler.WithAttrs(a), r.mu, r.msgs}
}

func (r recorder) WithGroup(g string) slog.Handler {
	return recorder{r.Handler.WithGroup(g), r.mu, r.msgs}
}

// testWriter writes to the test's output until the test ends, then to
// stderr: a device goroutine may log a moment after the test returned (the
// agent's Run does not wait for gpio's feedback watcher goroutine to end,
// only for its own forwarder), and testing panics on a late write.
type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return os.Stderr.Write(append([]byte("(after the test) "), p...))
	}
	return w.w.Write(p)
}

// logger logs to the test and returns a function listing the messages.
func logger(t *testing.T) (*slog.Logger, func() []string) {
	tw := &testWriter{w: t.Output()}
	t.Cleanup(func() {
		tw.mu.Lock()
		tw.done = true
		tw.mu.Unlock()
	})
	var mu sync.Mutex
	var msgs []string
	h := recorder{slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelDebug}), &mu, &msgs}
	return slog.New(h), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(msgs)
	}
}

// gpiochipInfo is struct gpiochip_info from <linux/gpio.h>.
type gpiochipInfo struct {
	Name, Label [32]byte
	Lines       uint32
}

// _IOR(0xB4, 0x01, struct gpiochip_info)
const gpioGetChipInfo = 2<<30 | uint32(unsafe.Sizeof(gpiochipInfo{}))<<16 | 0xb4<<8 | 0x01

// findChip returns the /dev/gpiochip* whose label is label, or "".
func findChip(label string) (path string, lines int) {
	paths, _ := filepath.Glob("/dev/gpiochip*")
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var info gpiochipInfo
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(gpioGetChipInfo), uintptr(unsafe.Pointer(&info)))
		unix.Close(fd)
		if errno == 0 && unix.ByteSliceToString(info.Label[:]) == label {
			return p, int(info.Lines)
		}
	}
	return "", 0
}

// mcp is the emulated chip as both sides see it.
type mcp struct {
	name string              // kernel chip name, for CHIP:LINE refs
	chip *gpioioctl.GPIOChip // periph's view
	sim  *mcp2221sim.Chip    // the emulator's view
	dev  *mcp2221sim.Device  // the uhid device
}

func (m *mcp) ref(line int) gpio.PinRef { return gpio.PinRef(fmt.Sprintf("%s:%d", m.name, line)) }

var (
	mcpOnce sync.Once
	mcpVal  *mcp
	mcpErr  error
)

// chip waits (once per process) for the emulated chip to appear, then runs
// periph's host.Init, which enumerates GPIO chips only once.
func chip(t *testing.T) *mcp {
	t.Helper()
	mcpOnce.Do(func() {
		if emuErr != nil {
			mcpErr = fmt.Errorf("emulator: %w", emuErr)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), chipDeadline)
		defer cancel()
		// Poll slowly: the probe takes seconds, and this runs beside the
		// capture tests, which drop frames when starved of CPU.
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		var path string
		var lines int
		for path == "" {
			if path, lines = findChip(driverLabel); path != "" {
				break
			}
			select {
			case <-tick.C:
			case <-emu.Done():
				mcpErr = fmt.Errorf("emulator stopped: %v", emu.Err())
				return
			case <-ctx.Done():
				mcpErr = fmt.Errorf("no gpiochip labelled %q within %v; emulator saw %v", driverLabel, chipDeadline, emu.Chip().State().Reports)
				return
			}
		}
		appeared := time.Since(emuStart)
		fmt.Printf("CAMNODE-GPIO chip=%s label=%s lines=%d appeared_after=%.2fs reports=%v\n",
			filepath.Base(path), driverLabel, lines, appeared.Seconds(), emu.Chip().State().Reports)
		if _, err := host.Init(); err != nil {
			mcpErr = fmt.Errorf("host.Init: %w", err)
			return
		}
		for _, c := range gpioioctl.Chips {
			if c.Label() == driverLabel {
				mcpVal = &mcp{name: c.Name(), chip: c, sim: emu.Chip(), dev: emu}
				return
			}
		}
		mcpErr = fmt.Errorf("periph does not list the %s chip (%d chips)", driverLabel, len(gpioioctl.Chips))
	})
	if mcpErr != nil {
		t.Fatal(mcpErr)
	}
	if mcpVal.chip.LineCount() != mcp2221sim.Lines {
		t.Fatalf("chip %s has %d lines, want %d", mcpVal.name, mcpVal.chip.LineCount(), mcp2221sim.Lines)
	}
	return mcpVal
}

// valueWrites returns the output value writes to line after seq.
func valueWrites(evs []mcp2221sim.Event, line int, after uint64) []bool {
	var out []bool
	for _, e := range evs {
		if e.Seq > after && e.Mark == "" && !e.SetDirection && e.Line == line {
			out = append(out, e.Level)
		}
	}
	return out
}

// TestGPIOLevels drives the LED and the level-mode shutter through
// gpio.Open on the emulated chip and checks, on the emulator side, the pin
// directions and the levels written, with both polarities; then it drives
// the shutter feedback input from the emulator and watches it through
// Shutter.Watch, which must fall back to polling (the chip has no IRQ).
func TestGPIOLevels(t *testing.T) {
	guest(t)
	m := chip(t)
	log, msgs := logger(t)
	devs, err := gpio.Open(gpio.Config{
		LED: m.ref(0), LEDActiveLow: true,
		Shutter: m.ref(1), ShutterFeedback: m.ref(2),
		ShutterConfig: gpio.ShutterConfig{Mode: gpio.ModeLevel, PollInterval: 10 * time.Millisecond, Debounce: 20 * time.Millisecond},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	// Writes go through the kernel synchronously: the driver waits for
	// the emulator's reply before the ioctl returns, so the emulator's
	// state is exact right after each call.
	pins := func(when string, want0, want1 bool) {
		t.Helper()
		s := m.sim.State()
		if s.Dir[0] != mcp2221sim.Output || s.Dir[1] != mcp2221sim.Output {
			t.Fatalf("%s: GP0 %v GP1 %v, want outputs", when, s.Dir[0], s.Dir[1])
		}
		if s.Out[0] != want0 || s.Out[1] != want1 {
			t.Errorf("%s: GP0=%d GP1=%d, want %d %d", when, b2i(s.Out[0]), b2i(s.Out[1]), b2i(want0), b2i(want1))
		}
	}
	pins("after Open (LED off, active low; shutter closed)", true, false)
	if s := m.sim.State(); s.Dir[2] != mcp2221sim.Input {
		t.Errorf("feedback GP2 is %v, want in", s.Dir[2])
	}

	mark := m.sim.Mark("levels")
	step := func(what string, f func() error, want0, want1 bool) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		pins(what, want0, want1)
	}
	step("LED on (active low)", func() error { return devs.LED.Set(true) }, false, false)
	step("shutter open", func() error { return devs.Shutter.Drive(true) }, false, true)
	step("LED off (active low)", func() error { return devs.LED.Set(false) }, true, true)
	step("shutter close", func() error { return devs.Shutter.Drive(false) }, true, false)

	// The other polarities, on the same periph lines.
	led := gpio.NewLED(m.chip.ByNumber(0), false)
	sh, err := gpio.NewShutter(gpio.ShutterConfig{ActiveLow: true}, m.chip.ByNumber(1), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	step("LED on (active high)", func() error { return led.Set(true) }, true, false)
	step("shutter close (active low)", sh.Halt, true, true)
	step("shutter open (active low)", func() error { return sh.Drive(true) }, true, false)
	step("LED off (active high)", led.Halt, false, false)

	evs := m.sim.Events()
	if got, want := valueWrites(evs, 0, mark), []bool{false, true, true, false}; !slices.Equal(got, want) {
		t.Errorf("GP0 writes %v, want %v", got, want)
	}
	if got, want := valueWrites(evs, 1, mark), []bool{true, false, true, false}; !slices.Equal(got, want) {
		t.Errorf("GP1 writes %v, want %v", got, want)
	}

	// Feedback: the emulator applies GP2's level, Watch reports it.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	gets := m.sim.State().Reports[mcp2221sim.CmdGPIOGet]
	ch := devs.Shutter.Watch(ctx)
	expect := func(want bool, what string) {
		t.Helper()
		start := time.Now()
		for {
			select {
			case v, ok := <-ch:
				if !ok {
					t.Fatalf("%s: Watch closed", what)
				}
				if v == want {
					t.Logf("%s: Watch reported open=%v after %v", what, v, time.Since(start).Round(time.Millisecond))
					return
				}
				t.Logf("%s: Watch reported open=%v, waiting for %v", what, v, want)
			case <-ctx.Done():
				t.Fatalf("%s: Watch did not report open=%v", what, want)
			}
		}
	}
	expect(false, "initial level low")
	m.sim.SetInput(2, true)
	expect(true, "GP2 high")
	m.sim.SetInput(2, false)
	expect(false, "GP2 low")
	cancel()
	for range ch { // Watch closes its channel once its goroutine ended
	}
	if !slices.Contains(msgs(), "gpio: edge detection unavailable, polling") {
		t.Errorf("no polling fallback logged; messages: %q", msgs())
	}
	polls := m.sim.State().Reports[mcp2221sim.CmdGPIOGet] - gets
	if polls < 3 {
		t.Errorf("%d GPIO get reports while watching", polls)
	}
	t.Logf("feedback watched with %d GPIO get reports", polls)
}

// frameSink counts the frames that passed the agent's gate and those that
// did while the emulator's GP0 was high (LED dark, active low).
type frameSink struct {
	sim     *mcp2221sim.Chip
	n, dark atomic.Int64
	three   chan struct{} // closed at the third frame
}

func (s *frameSink) WriteFrame(*capture.Frame) {
	if s.sim.State().Out[0] {
		s.dark.Add(1)
	}
	if s.n.Add(1) == 3 {
		close(s.three)
	}
}

func (s *frameSink) Cut() { s.sim.Mark("gate cut") }

// TestGPIOAgentLED runs the agent on the emulated chip with a synthetic
// camera: privacy off, then on. The shutter's feedback switch (GP2) is wired
// to its drive (GP1) in the emulator. On the emulator's record of writes,
// the LED (GP0, active low) must be lit before the camera starts and stay
// lit until it stopped.
func TestGPIOAgentLED(t *testing.T) {
	guest(t)
	m := chip(t)
	log, _ := logger(t)
	devs, err := gpio.Open(gpio.Config{
		LED: m.ref(0), LEDActiveLow: true,
		Shutter: m.ref(1), ShutterFeedback: m.ref(2),
		ShutterConfig: gpio.ShutterConfig{Mode: gpio.ModeLevel, PollInterval: 10 * time.Millisecond, Debounce: 20 * time.Millisecond},
	}, log.With("component", "gpio"))
	if err != nil {
		t.Fatal(err)
	}
	m.sim.Link(1, 2)
	defer m.sim.Link(1, -1)

	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 64, Height: 48, Pixel: capture.I420, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	cam.OnStreamOn = func() { m.sim.Mark("stream on") }
	cam.OnStreamOff = func() { m.sim.Mark("stream off") }
	sink := &frameSink{sim: m.sim, three: make(chan struct{})}

	a, err := agent.New(agent.Config{
		Identity: firmware.Identity{NodeID: "vm-gpio", Site: "VM", Room: "Test room", ZoneClass: "reception",
			Installer: "vm-test", IssuedAt: time.Now(), InitialPrivacy: "on"},
		StatePath: filepath.Join(t.TempDir(), "privacy.json"),
		Timing:    agent.Timing{ShutterConfirm: 5 * time.Second, RetryMin: 100 * time.Millisecond, RetryMax: time.Second},
		Logger:    log.With("component", "agent"),
	}, agent.Deps{LED: devs.LED, Shutter: devs.Shutter, Camera: cam, Sinks: []agent.FrameSink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent Run: %v", err)
			}
		}
	}
	defer stop()

	agenttest.WaitStatus(t, a, "privacy at start", 10*time.Second, func(s agent.Status) bool { return s.Privacy && s.Capture == "off" && s.CaptureAllowed })
	start := m.sim.Mark("privacy off")
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	if _, err := a.SetPrivacy(rctx, false, agent.SourceLocal, "vm-test"); err != nil {
		t.Fatalf("privacy off: %v", err)
	}
	st := agenttest.WaitStatus(t, a, "streaming", 20*time.Second, func(s agent.Status) bool {
		return s.Capture == "streaming" && s.LED && s.Shutter == "open"
	})
	select {
	case <-sink.three:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d frames through the gate in 20 s", sink.n.Load())
	}
	if s := m.sim.State(); s.Out[0] || !s.Out[1] || !s.In[2] {
		t.Errorf("while streaming: GP0=%d (want 0: LED on) GP1=%d (want 1: open) GP2=%d (want 1)", b2i(s.Out[0]), b2i(s.Out[1]), b2i(s.In[2]))
	}
	t.Logf("streaming, sensor open %v", st.Sensor != nil && *st.Sensor)

	m.sim.Mark("privacy on")
	if _, err := a.SetPrivacy(rctx, true, agent.SourceLocal, "vm-test"); err != nil {
		t.Fatalf("privacy on: %v", err)
	}
	agenttest.WaitStatus(t, a, "privacy again", 10*time.Second, func(s agent.Status) bool {
		return s.Privacy && s.Capture == "off" && !s.LED && s.Shutter == "closed"
	})
	stop()
	if n, dark := sink.n.Load(), sink.dark.Load(); dark != 0 {
		t.Errorf("%d of %d frames passed the gate while GP0 was high (LED dark)", dark, n)
	} else {
		t.Logf("%d frames passed the gate, all with the LED lit", n)
	}
	if s := m.sim.State(); !s.Out[0] || s.Out[1] {
		t.Errorf("after the agent stopped: GP0=%d (want 1: LED off) GP1=%d (want 0: closed)", b2i(s.Out[0]), b2i(s.Out[1]))
	}

	// The LED on the emulator's record: writes to GP0 (low = lit) and the
	// camera's stream on/off marks, in order.
	var seq []string
	lit := false // GP0 was high (LED off) before "privacy off"
	var onStart, offStop bool
	streams := 0
	for _, e := range m.sim.Events() {
		if e.Seq <= start {
			continue
		}
		switch {
		case e.Mark == "stream on":
			streams++
			if !lit {
				t.Errorf("%v while the LED is off", e)
			}
			onStart = lit
			seq = append(seq, "STREAMON")
		case e.Mark == "stream off":
			if !lit {
				t.Errorf("%v after the LED went off", e)
			}
			offStop = true
			seq = append(seq, "STREAMOFF")
		case e.Mark == "gate cut":
			seq = append(seq, "CUT")
		case e.Mark == "" && !e.SetDirection && e.Line == 0:
			lit = !e.Level
			if !lit && onStart && !offStop {
				t.Errorf("%v: LED off while the camera streams", e)
			}
			seq = append(seq, map[bool]string{true: "LED-on", false: "LED-off"}[lit])
		case e.Mark == "" && !e.SetDirection && e.Line == 1:
			seq = append(seq, map[bool]string{true: "shutter-open", false: "shutter-close"}[e.Level])
		}
	}
	t.Logf("sequence after privacy off: %s", strings.Join(seq, " "))
	fmt.Printf("CAMNODE-GPIO agent_sequence=%s\n", strings.Join(seq, ","))
	if streams != 1 || !onStart || !offStop || lit {
		t.Errorf("streams %d, LED lit at stream on %v, stream off seen %v, LED lit at the end %v", streams, onStart, offStop, lit)
	}
	// Leaving privacy: shutter open, LED on, then the stream; entering
	// it: stream off, shutter closed, LED off.
	on, off := slices.Index(seq, "STREAMON"), slices.Index(seq, "STREAMOFF")
	if on < 0 || !slices.Contains(seq[:on], "LED-on") || !slices.Contains(seq[:on], "shutter-open") {
		t.Errorf("no shutter-open and LED-on before STREAMON: %v", seq)
	}
	if off < on || !slices.Contains(seq[off:], "LED-off") || !slices.Contains(seq[off:], "shutter-close") {
		t.Errorf("no shutter-close and LED-off after STREAMOFF: %v", seq)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
