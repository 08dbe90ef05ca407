// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

var (
	_ LED     = (*gpiotest.LED)(nil)
	_ Shutter = (*gpiotest.Shutter)(nil)
	_ Button  = (*gpiotest.Button)(nil)
)

func testIdentity(zone, room string) firmware.Identity {
	return firmware.Identity{NodeID: "node-1", Site: "Test Practice", Room: room, ZoneClass: zone,
		Installer: "test", IssuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// recSink is a FrameSink that records each delivered frame and each cut on
// the shared timeline.
type recSink struct {
	log    *gpiotest.Log
	mu     sync.Mutex
	frames int
}

func (s *recSink) WriteFrame(f *capture.Frame) {
	s.mu.Lock()
	s.frames++
	s.mu.Unlock()
	s.log.Add("sink", "frame")
}
func (s *recSink) Cut() { s.log.Add("sink", "cut") }
func (s *recSink) Frames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// fakeAudio is an AudioGuard steered by the test.
type fakeAudio struct {
	mu   sync.Mutex
	dev  string
	subs []chan string
}

func (f *fakeAudio) Watch(ctx context.Context) <-chan string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan string, 64)
	c <- f.dev
	f.subs = append(f.subs, c)
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.subs = nil
		close(c)
	})
	return c
}

func (f *fakeAudio) Set(dev string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dev = dev
	for _, c := range f.subs {
		c <- dev
	}
}

type rig struct {
	t      *testing.T
	log    *gpiotest.Log
	led    *gpiotest.LED
	sh     *gpiotest.Shutter
	btn    *gpiotest.Button
	cam    *capture.Synthetic
	sink   *recSink
	audio  *fakeAudio
	a      *Agent
	cancel context.CancelFunc
	runErr chan error
	state  string

	stopOnce sync.Once
	stopErr  error

	afterAction func(Action, error) // installed into the agent before Run
}

type rigOpt func(*Config, *Deps, *rig)

// lingering is a camera that keeps streaming for a while after it is told
// to stop, as a slow driver does: the gate, not the camera, must keep those
// frames in.
type lingering struct {
	capture.Source
	linger time.Duration
}

func (l lingering) Stream(ctx context.Context, sink capture.Sink) error {
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(l.linger, cancel) })
	defer stop()
	return l.Source.Stream(inner, sink)
}

func withLinger(d time.Duration) rigOpt {
	return func(_ *Config, deps *Deps, r *rig) { deps.Camera = lingering{Source: r.cam, linger: d} }
}

func withSensor(delay time.Duration) rigOpt {
	return func(_ *Config, _ *Deps, r *rig) {
		r.sh.Feedback, r.sh.AutoFeedback, r.sh.FeedbackDelay = true, true, delay
	}
}

func withIdentity(id firmware.Identity, err error) rigOpt {
	return func(c *Config, _ *Deps, _ *rig) { c.Identity, c.IdentityErr = id, err }
}

func withStateFile(content string) rigOpt {
	return func(c *Config, _ *Deps, r *rig) {
		if err := os.WriteFile(c.StatePath, []byte(content), 0o600); err != nil {
			r.t.Fatal(err)
		}
	}
}

// newRig builds an agent on fakes and starts Run. Call inside a synctest
// bubble.
func newRig(t *testing.T, opts ...rigOpt) *rig {
	t.Helper()
	log := &gpiotest.Log{}
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 64, Height: 48, Pixel: capture.I420, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	cam.OnStreamOn = func() { log.Add("camera", "streamon") }
	cam.OnStreamOff = func() { log.Add("camera", "streamoff") }
	r := &rig{t: t, log: log, led: &gpiotest.LED{Log: log}, sh: &gpiotest.Shutter{Log: log},
		btn: &gpiotest.Button{}, cam: cam, sink: &recSink{log: log}, audio: &fakeAudio{}}
	r.state = filepath.Join(t.TempDir(), "privacy.json")
	cfg := Config{
		Identity:  testIdentity("reception", "Front desk"),
		StatePath: r.state,
		Timing:    tm,
		Logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	cfg.Identity.InitialPrivacy = "off"
	deps := Deps{LED: r.led, Shutter: r.sh, Button: r.btn, Camera: cam, Audio: r.audio, Sinks: []FrameSink{r.sink}}
	for _, o := range opts {
		o(&cfg, &deps, r)
	}
	r.a, err = New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	r.a.afterAction = r.afterAction
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.runErr = make(chan error, 1)
	go func() { r.runErr <- r.a.Run(ctx) }()
	t.Cleanup(func() { r.stop() })
	synctest.Wait()
	return r
}

// stop cancels Run and waits for it. It may be called more than once.
func (r *rig) stop() error {
	r.stopOnce.Do(func() {
		r.cancel()
		r.stopErr = <-r.runErr
	})
	return r.stopErr
}

func (r *rig) privacy(on bool) error {
	v := "off"
	if on {
		v = "on"
	}
	r.log.Add("request", v)
	_, err := r.a.SetPrivacy(context.Background(), on, SourceLocal, "test")
	if on && err == nil {
		r.log.Add("ack", "on")
	}
	return err
}

// checkTimeline verifies invariants 1, 2 and 5 on the recorded timeline.
func checkTimeline(entries []Entry) error {
	led, shutterOpen, streaming, privateAcked, ledBroken := false, false, false, false, false
	var privateAsked time.Time // when privacy on was last requested
	for _, e := range entries {
		what := e.Device + " " + e.Value
		switch what {
		case "led on":
			led = true
		case "led off":
			ledBroken = false
			if streaming {
				return fmt.Errorf("#%d LED off while the sensor streams", e.Seq)
			}
			led = false
		case "shutter open":
			shutterOpen = true
		case "shutter close":
			shutterOpen = false
		case "camera streamon":
			if !led {
				return fmt.Errorf("#%d STREAMON with the LED off", e.Seq)
			}
			streaming = true
		case "camera streamoff":
			streaming = false
		case "sink frame":
			switch {
			case !led:
				return fmt.Errorf("#%d frame delivered with the LED off", e.Seq)
			case !shutterOpen:
				return fmt.Errorf("#%d frame delivered with the shutter closed", e.Seq)
			case !streaming:
				return fmt.Errorf("#%d frame delivered outside a stream", e.Seq)
			case privateAcked:
				return fmt.Errorf("#%d frame delivered after privacy on was acknowledged", e.Seq)
			case !privateAsked.IsZero() && e.Time.After(privateAsked):
				return fmt.Errorf("#%d frame delivered after privacy on was requested", e.Seq)
			}
		case "request on":
			privateAsked = e.Time
		case "ack on":
			privateAcked = true
			if (led && !ledBroken) || shutterOpen || streaming {
				return fmt.Errorf("#%d privacy acknowledged with led=%v shutter open=%v streaming=%v", e.Seq, led, shutterOpen, streaming)
			}
		case "request off", "button press":
			privateAcked = false
			privateAsked = time.Time{}
		case "fault led-broken":
			ledBroken = true
		case "fault led-fixed":
			// The LED stays as it was until the agent's next write.
		}
	}
	if led || shutterOpen || streaming {
		return fmt.Errorf("after stop: led=%v shutter open=%v streaming=%v", led, shutterOpen, streaming)
	}
	return nil
}

// Entry aliases the timeline entry type for brevity.
type Entry = gpiotest.Entry

func dump(entries []Entry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "#%d %s %s %s\n", e.Seq, e.Time.Format("05.000"), e.Device, e.Value)
	}
	return b.String()
}

func TestLiveAndPrivacyTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withSensor(150*time.Millisecond), withLinger(300*time.Millisecond))
		time.Sleep(time.Second) // fake time: frames flow
		st := r.a.Status()
		if st.Privacy || !st.Recording || !st.LED || st.Shutter != "open" {
			t.Fatalf("after first boot with initial_privacy=off: %+v", st)
		}
		before := r.sink.Frames()
		if before == 0 {
			t.Fatal("no frame delivered while live")
		}
		if err := r.privacy(true); err != nil {
			t.Fatalf("privacy on: %v", err)
		}
		st = r.a.Status()
		if !st.Privacy || st.Recording || st.LED || st.Shutter != "closed" || st.Capture != "off" {
			t.Fatalf("after privacy on: %+v", st)
		}
		time.Sleep(time.Second)
		if got := r.sink.Frames(); got != before {
			t.Fatalf("frames kept flowing after privacy: %d -> %d", before, got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if err := checkTimeline(r.log.Entries()); err != nil {
			t.Fatalf("%v\n%s", err, dump(r.log.Entries()))
		}
		// The persisted mode survives: private.
		if private, found, err := LoadMode(r.state); err != nil || !found || !private {
			t.Fatalf("LoadMode = %v, %v, %v; want private", private, found, err)
		}
	})
}

func TestCutBeforeAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		time.Sleep(500 * time.Millisecond)
		if err := r.privacy(true); err != nil {
			t.Fatal(err)
		}
		cut, ok1 := r.log.Find("sink", "cut")
		ack, ok2 := r.log.Find("ack", "on")
		if !ok1 || !ok2 || cut.Seq > ack.Seq {
			t.Fatalf("sinks must be cut before privacy is acknowledged\n%s", dump(r.log.Entries()))
		}
		r.stop()
	})
}

func TestClinicalZoneNeverOpensCamera(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   firmware.Identity
		err  error
	}{
		{"consulting", testIdentity("consulting", "Room 4"), nil},
		{"therapy", testIdentity("therapy", "Quiet room"), nil},
		{"treatment", testIdentity("treatment", "Room 2"), nil},
		{"examination", testIdentity("examination", "Room 1"), nil},
		{"clinical", testIdentity("clinical", "Room 9"), nil},
		{"label contradicts class", testIdentity("office", "Consulting Room 3"), nil},
		{"unknown class", testIdentity("bathroom-ish", "Room 5"), nil},
		{"empty class", testIdentity("", "Hall"), nil},
		{"unsigned", testIdentity("reception", "Front"), firmware.ErrUnsigned},
		{"missing file", firmware.Identity{}, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, withIdentity(tc.id, tc.err), withStateFile(`{"version":1,"private":false}`))
				st := r.a.Status()
				if st.CaptureAllowed || !st.Privacy {
					t.Errorf("status = %+v, want capture not allowed and privacy on", st)
				}
				for _, on := range []bool{false, false} {
					err := r.privacy(on)
					var ref *RefusedError
					if !errors.As(err, &ref) {
						t.Errorf("privacy off = %v, want a refusal", err)
					}
				}
				_, err := r.a.TogglePrivacy(context.Background(), SourceHub, "hub")
				if err == nil {
					t.Error("toggle accepted in a locked zone")
				}
				r.btn.Press()
				time.Sleep(5 * time.Second)
				r.stop()
				if n := r.cam.Opens(); n != 0 {
					t.Fatalf("camera opened %d times in a locked zone", n)
				}
				if r.led.On() || r.sh.IsOpen() {
					t.Fatal("LED or shutter on in a locked zone")
				}
			})
		})
	}
}

func TestLEDFailureBlocksCapture(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withStateFile(`{"version":1,"private":true}`))
		r.led.SetFail(errors.New("gpio: EIO"))
		err := r.privacy(false)
		if err == nil {
			t.Fatal("privacy off succeeded with a broken LED")
		}
		time.Sleep(2 * time.Second)
		if n := r.cam.Opens(); n != 0 {
			t.Fatalf("camera opened %d times although the LED could not be lit", n)
		}
		st := r.a.Status()
		if !st.Privacy || st.Faults["led"] == "" || st.Shutter != "closed" {
			t.Fatalf("status = %+v; want private with an LED fault and the shutter closed", st)
		}
		r.led.SetFail(nil)
		if err := r.privacy(false); err != nil {
			t.Fatalf("privacy off after the LED was repaired: %v", err)
		}
		r.stop()
		if err := checkTimeline(r.log.Entries()); err != nil {
			t.Fatalf("%v\n%s", err, dump(r.log.Entries()))
		}
	})
}

func TestShutterNotConfirmedStaysPrivate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withSensor(100*time.Millisecond), withStateFile(`{"version":1,"private":true}`))
		r.sh.SetStuck(true)
		err := r.privacy(false)
		if err == nil {
			t.Fatal("privacy off succeeded with a jammed shutter")
		}
		st := r.a.Status()
		if !st.Privacy || st.Faults["shutter"] == "" || r.cam.Opens() != 0 || r.led.On() {
			t.Fatalf("err = %v, status = %+v, opens = %d", err, st, r.cam.Opens())
		}
		r.stop()
	})
}

// TestUnreadableStateMeansPrivacy boots an agent on every state file of
// modeCases that is not exactly what the agent writes: each boots private,
// camera unopened, with a persist fault.
func TestUnreadableStateMeansPrivacy(t *testing.T) {
	for _, tc := range modeCases {
		if tc.errHas == "" {
			continue
		}
		content := tc.content
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, withStateFile(content))
				time.Sleep(time.Second)
				st := r.a.Status()
				if !st.Privacy || r.cam.Opens() != 0 || st.Faults["persist"] == "" {
					t.Fatalf("state %q: status %+v, opens %d; want privacy on with a persist fault", content, st, r.cam.Opens())
				}
				r.stop()
			})
		})
	}
}

func TestCameraLostRetriesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.cam.FailAfter(5, errors.New("vivid: disconnect"))
		time.Sleep(200 * time.Millisecond)
		st := r.a.Status()
		if st.Faults["camera"] == "" || st.LED {
			t.Fatalf("after loss: %+v; want a camera fault and the LED off", st)
		}
		r.cam.FailAfter(-1, nil)
		time.Sleep(5 * time.Second)
		st = r.a.Status()
		if !st.Recording || st.Faults["camera"] != "" {
			t.Fatalf("after recovery: %+v", st)
		}
		r.stop()
		if err := checkTimeline(r.log.Entries()); err != nil {
			t.Fatalf("%v\n%s", err, dump(r.log.Entries()))
		}
	})
}

func TestAudioDeviceStopsCapture(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		time.Sleep(200 * time.Millisecond)
		r.audio.Set("card1 USB Audio")
		time.Sleep(100 * time.Millisecond)
		st := r.a.Status()
		if st.Recording || st.LED || st.Faults["audio"] == "" {
			t.Fatalf("with audio: %+v", st)
		}
		if err := r.privacy(false); err == nil || !strings.Contains(err.Error(), "audio") {
			t.Fatalf("privacy off with audio present = %v, want an audio refusal", err)
		}
		r.audio.Set("")
		time.Sleep(200 * time.Millisecond)
		if st := r.a.Status(); !st.Recording {
			t.Fatalf("after audio gone: %+v", st)
		}
		r.stop()
		if err := checkTimeline(r.log.Entries()); err != nil {
			t.Fatalf("%v\n%s", err, dump(r.log.Entries()))
		}
	})
}

func TestShutdownLeavesOutputsSafe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withSensor(50*time.Millisecond))
		time.Sleep(time.Second)
		if !r.led.On() || !r.sh.IsOpen() {
			t.Fatal("not live before shutdown")
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if r.led.On() || r.sh.IsOpen() {
			t.Fatal("shutdown left the LED on or the shutter open")
		}
		// Shutdown is not a privacy request: the mode persists as off.
		if private, _, _ := LoadMode(r.state); private {
			t.Fatal("shutdown changed the persisted mode")
		}
	})
}

// TestRandomSequences is the property test: random interleavings of
// requests, button presses, faults, camera loss, audio devices and time,
// then a stop; the timeline must satisfy invariants 1, 2 and 5 every time.
func TestRandomSequences(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 30
	}
	for i := range n {
		seed := uint64(i)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rnd := rand.New(rand.NewPCG(seed, 42))
				var opts []rigOpt
				if rnd.IntN(2) == 0 {
					opts = append(opts, withSensor(time.Duration(rnd.IntN(300))*time.Millisecond))
				}
				if rnd.IntN(2) == 0 {
					opts = append(opts, withLinger(time.Duration(rnd.IntN(500))*time.Millisecond))
				}
				r := newRig(t, opts...)
				for range 25 {
					switch rnd.IntN(11) {
					case 0, 1:
						r.privacy(true)
					case 2, 3:
						r.privacy(false)
					case 4:
						r.log.Add("button", "press")
						r.btn.Press()
					case 5:
						if rnd.IntN(2) == 0 {
							r.log.Add("fault", "led-broken")
							r.led.SetFail(errors.New("EIO"))
						} else {
							r.led.SetFail(nil)
							r.log.Add("fault", "led-fixed")
						}
					case 6:
						r.sh.SetStuck(rnd.IntN(3) == 0)
					case 7:
						r.cam.FailAfter(rnd.IntN(10), capture.ErrLost)
					case 8:
						if rnd.IntN(2) == 0 {
							r.audio.Set("card0 Dummy")
						} else {
							r.audio.Set("")
						}
					case 9:
						// Racing toggles from two sources.
						go r.a.SetPrivacy(context.Background(), true, SourceHub, "hub")
						r.log.Add("button", "press")
						r.btn.Press()
					}
					time.Sleep(time.Duration(rnd.IntN(400)) * time.Millisecond)
				}
				r.led.SetFail(nil)
				r.log.Add("fault", "led-fixed")
				r.stop()
				synctest.Wait()
				if err := checkTimeline(r.log.Entries()); err != nil {
					t.Fatalf("seed %d: %v\n%s", seed, err, dump(r.log.Entries()))
				}
			})
		})
	}
}

// countingSink reports a viewer count that the test changes.
type countingSink struct {
	recSink
	n atomic.Int32
}

func (c *countingSink) Viewers() int { return int(c.n.Load()) }

func TestRefreshPublishesViewerCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := &countingSink{}
		r := newRig(t, func(_ *Config, d *Deps, _ *rig) { d.Sinks = []FrameSink{cs} })
		if v := r.a.Status().Viewers; v != 0 {
			t.Fatalf("viewers = %d at start", v)
		}
		cs.n.Store(3)
		r.a.Refresh()
		synctest.Wait()
		if v := r.a.Status().Viewers; v != 3 {
			t.Fatalf("viewers = %d after Refresh, want 3", v)
		}
	})
}

// TestQuickToggleWithSensor: privacy on, then off again before the shutter
// sensor has seen it close. The sensor never changes, so the agent must
// take its open reading as the confirmation (found with the demo).
func TestQuickToggleWithSensor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withSensor(200*time.Millisecond))
		time.Sleep(time.Second)
		if err := r.privacy(true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // less than the sensor's travel
		if err := r.privacy(false); err != nil {
			t.Fatalf("privacy off right after on: %v", err)
		}
		time.Sleep(time.Second)
		if st := r.a.Status(); !st.Recording || st.Faults["shutter"] != "" {
			t.Fatalf("status = %+v", st)
		}
		r.stop()
		if err := checkTimeline(r.log.Entries()); err != nil {
			t.Fatalf("%v\n%s", err, dump(r.log.Entries()))
		}
	})
}

// TestSensorReadingIsPublished: privacy on, off again within the shutter's
// travel, then on: the shutter closes and its sensor says so while nothing
// else changes. The status (what the hub sees) must follow the sensor; it
// used to keep saying "open" (found by the MQTT command benchmark).
func TestSensorReadingIsPublished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withSensor(5*time.Millisecond))
		time.Sleep(time.Second)
		for _, on := range []bool{true, false} {
			if err := r.privacy(on); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		if err := r.privacy(true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		st := r.a.Status()
		if r.sh.SensorOpen() || st.Sensor == nil || *st.Sensor || st.Shutter != "closed" || st.Faults["shutter"] != "" {
			t.Fatalf("fake sensor open %v; status %+v (sensor %v)", r.sh.SensorOpen(), st, st.Sensor != nil && *st.Sensor)
		}
	})
}

// TestStatusFramesLive: Status counts the frames that left the node as
// they go, not as of the last transition (`camnode privacy status` showed
// "frames out: 0" on a streaming node; found by the VM test of the binary).
func TestStatusFramesLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		time.Sleep(time.Second)
		a := r.a.Status().Frames
		time.Sleep(time.Second)
		b := r.a.Status().Frames
		if a == 0 || b < a+25 { // 30 fps synthetic camera
			t.Fatalf("frames after 1 s: %d, after 2 s: %d", a, b)
		}
	})
}

// TestShutterStuckOpenIsReported: the shutter is commanded closed but its
// sensor keeps reading open: privacy still holds (gate, capture, LED) and a
// fault says the shutter may be open.
func TestShutterStuckOpenIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withSensor(100*time.Millisecond))
		time.Sleep(time.Second)
		r.sh.SetStuck(true)
		if err := r.privacy(true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		st := r.a.Status()
		if !st.Privacy || st.Recording || st.LED || !strings.Contains(st.Faults["shutter"], "not confirmed closed") {
			t.Fatalf("status = %+v; want private with a shutter fault", st)
		}
	})
}
