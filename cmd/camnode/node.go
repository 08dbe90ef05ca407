// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"periph.io/x/host/v3"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio"
)

// hardware is what the agent drives: real periph pins or simulated ones.
type hardware struct {
	led     agent.LED
	shutter agent.Shutter
	button  agent.Button
	halt    func() error // drives the outputs safe; idempotent
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/camnode/camnode.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	var hw hardware
	if cfg.GPIO.Simulate {
		hw = simulatedHardware(nil)
	} else {
		if _, err := host.Init(); err != nil {
			return fmt.Errorf("gpio: %w", err)
		}
		devs, err := gpio.Open(cfg.GPIO.Config, log.With("component", "gpio"))
		if err != nil {
			return err
		}
		hw = hardware{led: devs.LED, shutter: devs.Shutter, halt: devs.Halt}
		if devs.Button != nil {
			hw.button = devs.Button
		}
	}
	return runNode(ctx, cfg, hw, nodeOptions{}, log)
}

// nodeOptions are the extras the demo plugs in.
type nodeOptions struct {
	ready func(*agent.Agent) // called once the agent is built
}

// runNode wires one node and runs it until ctx is done.
func runNode(ctx context.Context, cfg config.Config, hw hardware, opts nodeOptions, log *slog.Logger) (err error) {
	// Whatever happens below, including a panic in this goroutine, the
	// outputs end safe (invariant 5).
	defer func() {
		if herr := hw.halt(); herr != nil {
			log.Error("halting outputs", "err", herr)
			err = errors.Join(err, herr)
		}
	}()

	id, idErr := loadIdentity(cfg.Node)
	allowed, reason := agent.ZoneVerdict(id, idErr)
	if !allowed {
		log.Warn("capture locked", "reason", reason)
	}

	// The camera is only constructed when the zone allows capture: in a
	// forbidden zone there is no code path that could open the device.
	var cam capture.Source
	if allowed {
		if cam, err = newCamera(cfg.Camera, log); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(cfg.Node.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	aud, err := agent.OpenFileAuditor(filepath.Join(cfg.Node.StateDir, "audit.jsonl"))
	if err != nil {
		return err
	}
	defer aud.Close()

	a, err := agent.New(agent.Config{
		Identity:    id,
		IdentityErr: idErr,
		StatePath:   filepath.Join(cfg.Node.StateDir, "privacy.json"),
		Timing: agent.Timing{
			ShutterConfirm: cfg.GPIO.ShutterConfirmTimeout.D(),
			StopDeadline:   cfg.Capture.StopTimeout.D(),
			RetryMin:       cfg.Capture.RetryMin.D(),
			RetryMax:       cfg.Capture.RetryMax.D(),
		},
		Version: version,
		Logger:  log.With("component", "agent"),
	}, agent.Deps{
		LED: hw.led, Shutter: hw.shutter, Button: hw.button,
		Camera: cam,
		Audio:  capture.AudioGuard{Root: os.DirFS("/"), Interval: cfg.Audio.PollInterval.D()},
		Audit:  aud,
	})
	if err != nil {
		return err
	}
	ln, err := agent.ListenControl(cfg.Node.ControlSocket, cfg.Node.ControlGroup)
	if err != nil {
		return err
	}
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- a.ServeControl(ctx, ln, log.With("component", "control")) }()
	if opts.ready != nil {
		opts.ready(a)
	}
	runErr := a.Run(ctx)
	ln.Close()
	<-ctlDone
	return runErr
}

// loadIdentity reads and verifies the signed identity. Any error locks the
// camera (the agent fails closed on it).
func loadIdentity(n config.Node) (firmware.Identity, error) {
	keys, err := os.ReadFile(n.InstallerKeysFile)
	if err != nil {
		return firmware.Identity{}, fmt.Errorf("installer keys: %w", err)
	}
	pub, err := firmware.ParseKeys(keys)
	if err != nil {
		return firmware.Identity{}, err
	}
	data, err := os.ReadFile(n.IdentityFile)
	if err != nil {
		return firmware.Identity{}, fmt.Errorf("identity: %w", err)
	}
	return firmware.VerifyIdentity(data, pub)
}

func newCamera(c config.Camera, log *slog.Logger) (capture.Source, error) {
	formats := make([]capture.PixelFormat, len(c.Formats))
	for i, f := range c.Formats {
		formats[i] = capture.PixelFormat(f)
	}
	switch c.Source {
	case "synthetic":
		return capture.NewSynthetic(capture.SyntheticConfig{Width: c.Width, Height: c.Height, Pixel: formats[0], FPS: c.FPS})
	case "v4l2":
		return capture.NewV4L2(capture.V4L2Config{Device: c.Device, Width: c.Width, Height: c.Height, FPS: c.FPS,
			Formats: formats, Logger: log.With("component", "capture")})
	}
	return nil, fmt.Errorf("camera.source %q", c.Source)
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func errorsJoin(errs ...error) error { return errors.Join(errs...) }
