// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio"
	"github.com/camnode/camnode/gpio/gpiotest"
)

var checkKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// nodeFiles is a fake filesystem with a signed identity for class/room.
func nodeFiles(t *testing.T, class, room string) map[string][]byte {
	t.Helper()
	signed, err := firmware.SignIdentity(firmware.Identity{NodeID: "n1", Site: "S", Room: room, ZoneClass: class,
		Installer: "I", IssuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, checkKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"/boot/firmware/camnode/identity.json":      signed,
		"/boot/firmware/camnode/installer-keys.pub": []byte(firmware.FormatKey(checkKey.Public().(ed25519.PublicKey), "t")),
	}
}

func reader(files map[string][]byte) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
}

func sampleConfig(t *testing.T) config.Config {
	t.Helper()
	c, err := config.Parse(firmware.SampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckIdentityAndZone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     func(t *testing.T) map[string][]byte
		id, zone  string // expected statuses
		detailHas string // in the zone detail
	}{
		{"corridor", func(t *testing.T) map[string][]byte { return nodeFiles(t, "corridor", "Minor Surgery Suite Corridor") }, checkPass, checkPass, `zone "corridor"`},
		{"clinical zone", func(t *testing.T) map[string][]byte { return nodeFiles(t, "consulting", "Room 3") }, checkPass, checkFail, "clinical zone (consulting): the camera will never run"},
		{"clinical room label", func(t *testing.T) map[string][]byte { return nodeFiles(t, "office", "Consulting Room 3") }, checkPass, checkFail, `clinical zone (room "Consulting Room 3")`},
		{"no identity", func(t *testing.T) map[string][]byte {
			f := nodeFiles(t, "corridor", "C")
			delete(f, "/boot/firmware/camnode/identity.json")
			return f
		}, checkFail, checkFail, "zone not verified"},
		{"tampered identity", func(t *testing.T) map[string][]byte {
			f := nodeFiles(t, "corridor", "C")
			f["/boot/firmware/camnode/identity.json"] = bytes.Replace(f["/boot/firmware/camnode/identity.json"], []byte(`"signature": "`), []byte(`"signature": "AA`), 1)
			return f
		}, checkFail, checkFail, "zone not verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idRes, zoneRes, _, _ := checkIdentity(sampleConfig(t).Node, reader(tc.files(t)))
			if idRes.Status != tc.id || zoneRes.Status != tc.zone || !strings.Contains(zoneRes.Detail, tc.detailHas) {
				t.Fatalf("identity %+v zone %+v; want %s %s with %q", idRes, zoneRes, tc.id, tc.zone, tc.detailHas)
			}
		})
	}
}

func TestCheckAudio(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"none", fstest.MapFS{"proc/asound/cards": {Data: []byte("--- no soundcards ---\n")}}, checkPass},
		{"usb mic", fstest.MapFS{"dev/snd/pcmC1D0c": {}}, checkFail},
	} {
		if r := checkAudio(tc.fs); r.Status != tc.want {
			t.Errorf("%s: %+v, want %s", tc.name, r, tc.want)
		}
	}
}

type fakeInfo struct{ mode fs.FileMode }

func (f fakeInfo) Name() string       { return "video0" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

func TestCheckCamera(t *testing.T) {
	cam := sampleConfig(t).Camera
	vivid := capture.ProbeInfo{Driver: "vivid", Card: "vivid", Bus: "platform:vivid-000", Offered: []string{"YUYV", "NV12"},
		Format: capture.Format{Width: 640, Height: 480, Pixel: capture.YUYV, FPSNum: 25, FPSDen: 1}, Audio: "audio inputs, muted"}
	for _, tc := range []struct {
		name     string
		info     fs.FileInfo
		err      error
		src      string
		zoneOK   bool
		probe    capture.ProbeInfo
		probeErr error
		want     string
		detail   string
		probes   int
	}{
		{"vivid", fakeInfo{fs.ModeDevice | fs.ModeCharDevice | 0o660}, nil, "v4l2", true, vivid, nil, checkPass,
			"vivid (vivid, platform:vivid-000); offers YUYV NV12; would stream 640x480 YUYV 25/1 fps; audio: audio inputs, muted", 1},
		{"no wanted format", fakeInfo{fs.ModeDevice | fs.ModeCharDevice}, nil, "v4l2", true,
			capture.ProbeInfo{Offered: []string{"GREY"}}, errors.New("no wanted format"), checkFail, "(it offers GREY)", 1},
		{"busy", fakeInfo{fs.ModeDevice | fs.ModeCharDevice}, nil, "v4l2", true,
			capture.ProbeInfo{}, errors.New("device or resource busy"), checkFail, "is camnode.service stopped?", 1},
		{"regular file", fakeInfo{0o644}, nil, "v4l2", true, vivid, nil, checkFail, "not a character device", 0},
		{"missing", nil, fs.ErrNotExist, "v4l2", true, vivid, nil, checkFail, "not exist", 0},
		{"synthetic", nil, nil, "synthetic", true, vivid, nil, checkWarn, "not a real camera", 0},
		// A locked zone: the self-test never touches the device either.
		{"locked zone", fakeInfo{fs.ModeDevice | fs.ModeCharDevice}, nil, "v4l2", false, vivid, nil, checkWarn, "not opened", 0},
	} {
		c := cam
		c.Source = tc.src
		probes := 0
		probe := func(config.Camera, bool, *slog.Logger) (capture.ProbeInfo, error) {
			probes++
			return tc.probe, tc.probeErr
		}
		r := checkCamera(c, false, tc.zoneOK, func(string) (fs.FileInfo, error) { return tc.info, tc.err }, probe, slog.New(slog.DiscardHandler))
		if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) || probes != tc.probes {
			t.Errorf("%s: %+v (probed %d times), want %s with %q, probed %d times", tc.name, r, probes, tc.want, tc.detail, tc.probes)
		}
	}
}

func TestCheckGPIO(t *testing.T) {
	for _, tc := range []struct {
		name    string
		shutter func() *gpiotest.Shutter
		openErr error
		want    string
		detail  string
	}{
		{"confirmed", func() *gpiotest.Shutter {
			return &gpiotest.Shutter{Feedback: true, AutoFeedback: true, FeedbackDelay: 300 * time.Millisecond}
		}, nil, checkPass, "both confirmed"},
		{"stuck shutter", func() *gpiotest.Shutter { return &gpiotest.Shutter{Feedback: true, AutoFeedback: true, Stuck: true} }, nil, checkFail, "feedback still says closed"},
		{"too slow", func() *gpiotest.Shutter {
			return &gpiotest.Shutter{Feedback: true, AutoFeedback: true, FeedbackDelay: 3 * time.Second}
		}, nil, checkFail, "after 2s"},
		{"no feedback", func() *gpiotest.Shutter { return &gpiotest.Shutter{} }, nil, checkWarn, "not confirmed"},
		{"drive fails", func() *gpiotest.Shutter { return &gpiotest.Shutter{Fail: errors.New("pin busy")} }, nil, checkFail, "pin busy"},
		{"open fails", func() *gpiotest.Shutter { return &gpiotest.Shutter{} }, errors.New("line busy"), checkFail, "camnode.service stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				led := &gpiotest.LED{}
				sh := tc.shutter()
				halted := false
				open := func(gpio.Config, *slog.Logger) (agent.LED, agent.Shutter, func() error, error) {
					if tc.openErr != nil {
						return nil, nil, nil, tc.openErr
					}
					return led, sh, func() error { halted = true; sh.SetFail(nil); return errors.Join(sh.Drive(false), led.Set(false)) }, nil
				}
				r := checkGPIO(t.Context(), sampleConfig(t).GPIO, open, slog.New(slog.DiscardHandler))
				if r.Status != tc.want || !strings.Contains(r.Detail, tc.detail) {
					t.Fatalf("%+v, want %s with %q", r, tc.want, tc.detail)
				}
				if tc.openErr == nil && !halted {
					t.Fatal("outputs not halted at the end")
				}
			})
		})
	}
	if r := checkGPIO(t.Context(), config.GPIO{Simulate: true}, nil, nil); r.Status != checkWarn {
		t.Fatalf("simulated: %+v", r)
	}
}

// TestCheckBrokers covers what needs no broker; check_integration_test.go
// checks the broker's answers against a real mosquitto.
func TestCheckBrokers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // not a broker: TLS and CONNECT must fail
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	id := firmware.Identity{NodeID: "n1"}
	for _, tc := range []struct {
		name   string
		mqtt   config.MQTT
		want   string
		detail string
	}{
		{"nothing listening", config.MQTT{Brokers: []string{"tcp://" + closedAddr}, Insecure: true}, checkFail, "unreachable: dial tcp " + closedAddr},
		{"not a broker", config.MQTT{Brokers: []string{"tcp://" + ln.Addr().String()}, Insecure: true}, checkFail, "closed the connection"},
		{"TLS files missing", config.MQTT{Brokers: []string{"ssl://" + ln.Addr().String()}}, checkFail, "TLS needs a CA file"},
		{"bad scheme", config.MQTT{Brokers: []string{"http://" + ln.Addr().String()}, Insecure: true}, checkFail, "scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sampleConfig(t)
			tc.mqtt.TopicPrefix, tc.mqtt.Keepalive = "camnode", config.Duration(10*time.Second)
			cfg.MQTT = tc.mqtt
			r := checkMQTT(t.Context(), cfg, id, nil, 5*time.Second)
			if len(r) != 1 || r[0].Status != tc.want || !strings.Contains(r[0].Detail, tc.detail) {
				t.Fatalf("%+v, want %s with %q", r, tc.want, tc.detail)
			}
			if strings.Contains(r[0].Detail, "will not report to a hub") {
				t.Fatalf("%+v: an [mqtt] section is configured", r)
			}
		})
	}
	// No [mqtt] brokers and none in the identity: a warning that says so.
	r := checkMQTT(t.Context(), sampleConfig(t), id, nil, time.Second)
	if len(r) != 1 || r[0].Status != checkWarn || !strings.Contains(r[0].Detail, "will not report to a hub") {
		t.Fatalf("no brokers: %+v", r)
	}
	// Brokers from the identity, but no TLS files provisioned beside it:
	// the same settings error run would stop on.
	r = checkMQTT(t.Context(), sampleConfig(t), firmware.Identity{NodeID: "n1", Brokers: []string{"mqtts://hub.invalid:8883"}}, nil, time.Second)
	if len(r) != 1 || r[0].Status != checkFail || !strings.Contains(r[0].Detail, "from the identity") {
		t.Fatalf("identity brokers without TLS files: %+v", r)
	}
}

func TestCheckClock(t *testing.T) {
	now := func(y int) func() time.Time {
		return func() time.Time { return time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC) }
	}
	ntp := func(synced, present bool, err error) func(context.Context) (bool, bool, error) {
		return func(context.Context) (bool, bool, error) { return synced, present, err }
	}
	for _, tc := range []struct {
		name string
		year int
		ntp  func(context.Context) (bool, bool, error)
		want string
	}{
		{"synced", 2026, ntp(true, true, nil), checkPass},
		{"epoch", 1970, ntp(true, true, nil), checkFail},
		{"not synced", 2026, ntp(false, true, nil), checkFail},
		{"no timedatectl", 2026, ntp(false, false, nil), checkWarn},
		{"timedatectl fails", 2026, ntp(false, true, errors.New("exit 1")), checkFail},
	} {
		if r := checkClock(t.Context(), now(tc.year), tc.ntp); r.Status != tc.want {
			t.Errorf("%s: %+v, want %s", tc.name, r, tc.want)
		}
	}
}

// TestRunChecksClinicalNode: a whole run over fakes for a node provisioned
// into a consulting room fails on the zone, with the reason, exit code 1.
func TestRunChecksClinicalNode(t *testing.T) {
	cfg := sampleConfig(t)
	d := checkDeps{
		root:     fstest.MapFS{},
		readFile: reader(nodeFiles(t, "consulting", "Consulting Room 3")),
		stat:     func(string) (fs.FileInfo, error) { return fakeInfo{fs.ModeDevice | fs.ModeCharDevice}, nil },
		now:      func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
		ntp:      func(context.Context) (bool, bool, error) { return true, true, nil },
		probe: func(config.Camera, bool, *slog.Logger) (capture.ProbeInfo, error) {
			t.Error("the camera was probed on a consulting-room node")
			return capture.ProbeInfo{}, nil
		},
	}
	results := runChecks(t.Context(), cfg, true, time.Second, d, slog.New(slog.DiscardHandler))
	var out bytes.Buffer
	err := reportChecks(results, false, &out)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want exit 1", err)
	}
	if !strings.Contains(out.String(), "FAIL  zone       clinical zone (consulting): the camera will never run") {
		t.Fatalf("report:\n%s", out.String())
	}
	out.Reset()
	_ = reportChecks(results, true, &out)
	var js struct {
		OK     bool
		Checks []checkResult
	}
	if err := json.Unmarshal(out.Bytes(), &js); err != nil || js.OK || len(js.Checks) != len(results) {
		t.Fatalf("json %v %+v", err, js)
	}
	if err := reportChecks([]checkResult{{"x", checkWarn, ""}, {"y", checkPass, ""}}, false, &bytes.Buffer{}); err != nil {
		t.Fatalf("warnings only must pass: %v", err)
	}
}

// TestSampleConfigPassesCheckConfig runs the real CLI on the shipped sample.
func TestSampleConfigPassesCheckConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"check-config", "../../firmware/camnode.toml.sample"}, nil, &out, &errb); err != nil {
		t.Fatalf("check-config: %v %s", err, errb.String())
	}
	if !strings.Contains(out.String(), ": ok") {
		t.Fatalf("output %q", out.String())
	}
}

func TestHaltOutputs(t *testing.T) {
	cfg := sampleConfig(t)
	var out bytes.Buffer
	calls := 0
	open := func(gpio.Config, *slog.Logger) (func() error, error) {
		return func() error { calls++; return nil }, nil
	}
	if err := haltOutputs(cfg, slog.New(slog.DiscardHandler), &out, open); err != nil || calls != 1 || !strings.Contains(out.String(), "closed, led gpiochip0:17 off") {
		t.Fatalf("err %v calls %d out %q", err, calls, out.String())
	}
	failing := func(gpio.Config, *slog.Logger) (func() error, error) { return nil, errors.New("no GPIO chip") }
	if err := haltOutputs(cfg, slog.New(slog.DiscardHandler), &out, failing); err == nil || !strings.Contains(err.Error(), "no GPIO chip") {
		t.Fatalf("err %v", err)
	}
	cfg.GPIO.Simulate = true
	if err := haltOutputs(cfg, nil, &out, failing); err != nil {
		t.Fatalf("simulate: %v", err)
	}
	if err := cmdHaltOutputs(t.Context(), []string{"-config", "/nonexistent.toml"}, &out, &out); err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("missing config: %v", err)
	}
}

// TestTimedatectlReason: when timedatectl fails, the clock check says what
// it said (not only "exit status 1") and what to look at.
func TestTimedatectlReason(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"System has not been booted with systemd as init system (PID 1). Can't operate.\" >&2\n" +
		"echo \"Failed to connect to bus: Host is down\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "timedatectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	r := checkClock(t.Context(), func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }, timedatectlNTP)
	for _, want := range []string{"exit status 1", "has not been booted with systemd", "Failed to connect to bus: Host is down", "is systemd PID 1"} {
		if !strings.Contains(r.Detail, want) {
			t.Errorf("clock check %+v: no %q", r, want)
		}
	}
	if r.Status != checkFail {
		t.Errorf("status %s, want %s", r.Status, checkFail)
	}
}

// TestConfigDefaults: run, check and halt-outputs read the same
// configuration file when given no -config.
func TestConfigDefaults(t *testing.T) {
	for _, cmd := range []string{"run", "check", "halt-outputs"} {
		var out, errb bytes.Buffer
		_ = run(t.Context(), []string{cmd, "-h"}, nil, &out, &errb)
		if !strings.Contains(errb.String(), `(default "`+defaultConfig+`")`) {
			t.Errorf("camnode %s -h does not default -config to %s:\n%s", cmd, defaultConfig, errb.String())
		}
	}
}

// TestCheckConfigHelp: -h prints the usage; it is not a file name.
func TestCheckConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out, errb bytes.Buffer
		err := run(t.Context(), []string{"check-config", arg}, nil, &out, &errb)
		if err != nil || !strings.Contains(errb.String(), "usage: camnode check-config FILE") || strings.Contains(errb.String()+out.String(), "no such file") {
			t.Errorf("check-config %s: %v\nstdout %q\nstderr %q", arg, err, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	err := run(t.Context(), []string{"check-config", "-x", "../../firmware/camnode.toml.sample"}, nil, &out, &errb)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("check-config -x FILE: %v, want a usage error (exit 2)", err)
	}
	// A file named like a flag is still reachable.
	if err := run(t.Context(), []string{"check-config", "--", "../../firmware/camnode.toml.sample"}, nil, &out, &errb); err != nil {
		t.Errorf("check-config -- FILE: %v", err)
	}
}

// TestCheckGPIOUnknownPin: a pin name the machine does not have is reported
// with what the installer should check, not with periph's internals.
func TestCheckGPIOUnknownPin(t *testing.T) {
	c := sampleConfig(t).GPIO
	c.LED = "GPIO999"
	open := func(c gpio.Config, log *slog.Logger) (agent.LED, agent.Shutter, func() error, error) {
		d, err := gpio.Open(c, log) // no pins registered: as on a machine without that pin
		if err != nil {
			return nil, nil, nil, err
		}
		return d.LED, d.Shutter, d.Halt, nil
	}
	r := checkGPIO(t.Context(), c, open, slog.New(slog.DiscardHandler))
	if r.Status != checkFail || strings.Contains(r.Detail, "host.Init") || !strings.Contains(r.Detail, `"GPIO999"`) ||
		!strings.Contains(r.Detail, "gpioinfo") || !strings.Contains(r.Detail, "/dev/gpiochip") {
		t.Fatalf("%+v: want a FAIL naming the pin and what to check (gpioinfo, /dev/gpiochip*), not host.Init", r)
	}
}
