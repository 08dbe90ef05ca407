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
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"periph.io/x/host/v3"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/agent/pipeline"
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
	// audio is the audio guard; nil means the real one, on this machine's
	// /dev and /proc. Only the demo simulates it.
	audio agent.AudioGuard
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	hw, err := openHardware(cfg, log)
	if err != nil {
		return err
	}
	return runNode(ctx, cfg, hw, nodeOptions{}, log)
}

// openHardware opens the privacy hardware the configuration names: the
// real pins through periph, or simulated ones (gpio.simulate).
func openHardware(cfg config.Config, log *slog.Logger) (hardware, error) {
	if cfg.GPIO.Simulate {
		return simulatedHardware(nil), nil
	}
	if _, err := host.Init(); err != nil {
		return hardware{}, fmt.Errorf("gpio: %w", err)
	}
	devs, err := gpio.Open(cfg.GPIO.Config, log.With("component", "gpio"))
	if err != nil {
		return hardware{}, err
	}
	hw := hardware{led: devs.LED, shutter: devs.Shutter, halt: devs.Halt}
	if devs.Button != nil {
		hw.button = devs.Button
	}
	return hw, nil
}

// nodeOptions are the extras the demo and camnode check -snapshot plug in.
type nodeOptions struct {
	ready func(*agent.Agent) // called once the agent is built
	// snapshot, for camnode check -snapshot, is the node's only frame
	// sink; the node then runs without its outward services (no live
	// view, no MQTT link; the control socket stays, so a running agent
	// is detected and privacy can be switched on meanwhile).
	snapshot *snapshotSink
}

// runNode wires one node and runs it until ctx is done.
func runNode(ctx context.Context, cfg config.Config, hw hardware, opts nodeOptions, log *slog.Logger) (err error) {
	// Whatever happens below, including a panic in this goroutine, the
	// outputs end safe (invariant 5).
	defer func() {
		if herr := hw.halt(); herr != nil {
			log.Error("halting outputs", "err", herr)
			err = errors.Join(err, herr)
			return
		}
		log.Info("outputs halted: shutter closed, LED off")
	}()
	// A terminal or SSH session that went away closes stderr: a log write
	// must then fail (EPIPE), not kill the agent before it halted. The
	// terminating signals themselves are caught by cli.Main.
	signal.Ignore(syscall.SIGPIPE)

	id, idErr := loadIdentity(cfg.Node)
	if cfg.MQTT, err = mqttFromIdentity(cfg, id, idErr); err != nil {
		return err
	}
	allowed, reason := agent.ZoneVerdict(id, idErr)
	if !allowed {
		log.Warn("capture locked", "reason", reason)
	}

	// The camera is only constructed when the zone allows capture: in a
	// forbidden zone there is no code path that could open the device.
	var cam capture.Source
	if allowed {
		if cam, err = newCamera(cfg.Camera, len(id.Masks) > 0, log); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(cfg.Node.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	// With MQTT, every record goes to the local chain first, then to the
	// durable outbox that is drained to the hub. The outbox is opened
	// first so that it is closed last: the chain's shutdown checkpoint is
	// forwarded to it.
	var outbox *mqtt.Outbox
	if cfg.MQTT.Enabled() {
		outbox, err = mqtt.OpenOutbox(filepath.Join(cfg.Node.StateDir, "audit-outbox.jsonl"),
			mqtt.OutboxOptions{Node: id.NodeID, Logger: log.With("component", "outbox")})
		if err != nil {
			return err
		}
		defer outbox.Close()
		// Before the chain is opened (it may append and forward a repair
		// record): what a crash left in the chain but not in the outbox.
		if n, err := outbox.Backfill(cfg.Node.StateDir); err != nil {
			log.Error("audit: queuing records missing from the outbox", "err", err)
		} else if n > 0 {
			log.Warn("audit: records missing from the outbox (a crash between the two writes) queued for the hub", "records", n)
		}
	}
	chainOpts, unsigned := auditChainOptions(cfg, id, idErr, log.With("component", "audit"))
	if outbox != nil {
		chainOpts.Forward = outbox
		// Retention deletes only what the hub has witnessed.
		chainOpts.Witnessed = func() *agent.ChainHead { return outbox.Stats().Witnessed }
	}
	fileAud, err := agent.OpenAuditChain(filepath.Join(cfg.Node.StateDir, "audit.jsonl"), chainOpts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := fileAud.Close(); cerr != nil {
			log.Error("audit: closing the chain", "err", cerr)
		}
	}()
	// First in this run's records: a crash of the last run, changes, the boot.
	stopLife := startAuditLife(cfg, id.NodeID, fileAud, log)
	defer func() {
		if p := recover(); p != nil {
			panic(p) // not a clean stop: the next start records a crash
		}
		stopLife(err)
	}()
	if unsigned != "" {
		// The node runs (privacy works without signatures) but says, in
		// the trail itself, that nothing it writes is signed.
		log.Error("audit trail is NOT signed", "reason", unsigned)
		if err := fileAud.Append(agent.AuditRecord{ID: agent.NewAuditID(), Time: time.Now(), Node: id.NodeID,
			Kind: "fault", Source: agent.SourceAgent, Reason: "audit trail unsigned: " + unsigned}); err != nil {
			log.Error("audit", "err", err)
		}
	}
	go auditTicker(ctx, fileAud, time.Duration(cfg.Audit.CheckpointInterval), log)
	var aud agent.Auditor = fileAud

	// One pipeline (one encode) for every output: the live view, the
	// recorder stream and the push to the hub; or, for `camnode check -snapshot`, the snapshot
	// alone. The pipeline is closed last, after its outputs.
	var (
		pipe  *pipeline.Pipeline
		lv    *liveView
		rec   *recorderStream
		sinks []agent.FrameSink
	)
	if opts.snapshot != nil {
		opts.snapshot.setup(id, aud)
		sinks = []agent.FrameSink{opts.snapshot}
	} else {
		if pipe, err = newPipeline(cfg, id, allowed, log); err != nil {
			return err
		}
		if pipe != nil {
			defer pipe.Close()
			sinks = []agent.FrameSink{pipe}
			if ks, ok := cam.(pipeline.KeyframeSource); ok {
				pipe.SetKeyframeSource(ks) // an H.264 camera is asked for IDRs where it can be
			}
		}
		if lv, err = newLiveView(cfg.LiveView, id, pipe, cfg.Node.StateDir, log); err != nil {
			return err
		}
		defer lv.close()
		if rec, err = newRecorder(cfg.Recorder, pipe, log); err != nil {
			return err
		}
		defer rec.close()
	}

	audio := hw.audio
	if audio == nil {
		audio = capture.AudioGuard{Root: os.DirFS("/"), Interval: cfg.Audio.PollInterval.D(),
			DevDir: "/dev", Logger: log.With("component", "audio")}
	}
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
		Audio:  audio,
		Audit:  aud,
		Sinks:  sinks,
	})
	if err != nil {
		return err
	}
	// The push publisher audits through the agent, so it is added to the
	// pipeline now; frames flow only once a.Run starts the camera. Closed
	// before the pipeline (defers run last-in first-out).
	pub, err := newPush(cfg.Recorder, pipe, a, log)
	if err != nil {
		return err
	}
	defer pub.close()
	ln, err := agent.ListenControl(cfg.Node.ControlSocket, cfg.Node.ControlGroup)
	if err != nil {
		return err
	}
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- a.ServeControl(ctx, ln, log.With("component", "control")) }()
	var linkDone chan error // nil without MQTT
	// The link outlives the agent's halt sequence: it is stopped only once
	// the agent has halted, so its last retained status is the halted one
	// (LED off, shutter closed, not streaming).
	linkCtx, stopLink := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLink()
	if cfg.MQTT.Enabled() && opts.snapshot == nil {
		link, err := newLink(cfg, id, a, outbox, log)
		if err != nil {
			ln.Close()
			<-ctlDone
			return err
		}
		linkDone = make(chan error, 1)
		go func() { linkDone <- link.Run(linkCtx) }()
	}
	if opts.ready != nil {
		opts.ready(a)
	}
	// systemd (Type=notify): ready once the socket listens; the watchdog
	// is fed only while the owner loop answers, so a wedged loop is
	// restarted (and ExecStopPost forces the outputs safe).
	if notify, err := firmware.NewNotifier(os.Getenv, os.Getpid()); err != nil {
		log.Warn("sd_notify disabled", "err", err)
	} else if notify.Enabled() {
		if err := notify.Ready(); err != nil {
			log.Warn("sd_notify", "err", err)
		}
		defer notify.Stopping()
		go notify.Watchdog(ctx, loopHeartbeat(ctx, a, notify.WatchdogInterval()))
	}
	go watchClock(ctx, a, log)
	lv.serve(ctx, a)
	rec.serve(a)
	runErr := a.Run(ctx)
	stopLink()
	ln.Close()
	<-ctlDone
	if linkDone != nil {
		<-linkDone
	}
	return runErr
}

// newLink builds the MQTT link from the [mqtt] section. The node id comes
// from the verified identity; with an unverified identity the link still
// reports (as "unverified"), so the hub sees the locked node.
func newLink(cfg config.Config, id firmware.Identity, a *agent.Agent, outbox *mqtt.Outbox, log *slog.Logger) (*mqtt.Link, error) {
	node := id.NodeID
	if node == "" {
		node = "unverified"
	}
	m := cfg.MQTT
	return mqtt.NewLink(mqtt.Config{
		Client: clientConfig(m),
		Node:   node, Prefix: m.TopicPrefix, Room: id.Room, Version: version,
		HADiscovery: m.HADiscovery, Outbox: outbox, CommandIDs: filepath.Join(cfg.Node.StateDir, mqtt.CommandIDsFile),
		OnLinkStatus: a.SetLink,
		Sys:          os.DirFS("/"),
		Logger:       log.With("component", "mqtt"),
	}, a)
}

// clientConfig is the [mqtt] section as the MQTT client takes it: how the
// node reaches its brokers. The link and `camnode check` both use it.
func clientConfig(m config.MQTT) mqtt.ClientConfig {
	return mqtt.ClientConfig{Brokers: m.Brokers, CAFile: m.CAFile, CertFile: m.CertFile, KeyFile: m.KeyFile,
		Insecure: m.Insecure, ClientID: m.ClientID, Keepalive: m.Keepalive.D()}
}

// loadIdentity reads and verifies the signed identity. Any error locks the
// camera (the agent fails closed on it).
// auditTicker lets the chain write its timed checkpoints until ctx ends.
func auditTicker(ctx context.Context, a *agent.FileAuditor, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(max(interval/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Tick(); err != nil {
				log.Error("audit checkpoint", "err", err)
			}
		}
	}
}

func loadIdentity(n config.Node) (firmware.Identity, error) {
	keys, err := firmware.ReadFile(n.InstallerKeysFile, firmware.MaxKeyFileSize)
	if err != nil {
		return firmware.Identity{}, fmt.Errorf("installer keys: %w", err)
	}
	pub, err := firmware.ParseKeys(keys)
	if err != nil {
		return firmware.Identity{}, err
	}
	data, err := firmware.ReadFile(n.IdentityFile, firmware.MaxIdentitySize)
	if err != nil {
		return firmware.Identity{}, fmt.Errorf("identity: %w", err)
	}
	return firmware.VerifyIdentity(data, pub)
}

// newCamera builds the configured source. needRaw (privacy masks are set)
// rules out H.264 passthrough: a compressed picture cannot be masked.
func newCamera(c config.Camera, needRaw bool, log *slog.Logger) (capture.Source, error) {
	formats := make([]capture.PixelFormat, len(c.Formats))
	for i, f := range c.Formats {
		formats[i] = capture.PixelFormat(f)
	}
	switch c.Source {
	case "synthetic":
		return capture.NewSynthetic(capture.SyntheticConfig{Width: c.Width, Height: c.Height, Pixel: formats[0], FPS: c.FPS})
	case "v4l2":
		return capture.NewV4L2(capture.V4L2Config{Device: c.Device, Width: c.Width, Height: c.Height, FPS: c.FPS,
			Formats: formats, Can: &capture.Capabilities{
				// What the node's pipeline can show.
				Encode: pipeline.HaveEncoder, DecodeMJPEG: capture.HaveJPEGDecoder, NeedRaw: needRaw,
			}, Logger: log.With("component", "capture")})
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

// loopHeartbeat ticks every iv, but only when the agent's owner loop
// answered a ping within that interval.
func loopHeartbeat(ctx context.Context, a *agent.Agent, iv time.Duration) <-chan time.Time {
	ch := make(chan time.Time)
	if iv <= 0 {
		return ch
	}
	go func() {
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				pctx, cancel := context.WithTimeout(ctx, iv)
				err := a.Ping(pctx)
				cancel()
				if err != nil {
					continue
				}
				select {
				case ch <- now:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch
}

// mqttFromIdentity fills the [mqtt] section from the signed identity when
// the configuration names no broker: the installer signs the hub's broker
// URLs into the identity, and provisioning puts the TLS files (ca.pem,
// node.pem, node.key) beside it. An explicit [mqtt] section wins.
func mqttFromIdentity(cfg config.Config, id firmware.Identity, idErr error) (config.MQTT, error) {
	m := cfg.MQTT
	if m.Enabled() || idErr != nil || len(id.Brokers) == 0 {
		return m, nil
	}
	m.Brokers = append([]string(nil), id.Brokers...)
	dir := filepath.Dir(cfg.Node.IdentityFile)
	for _, f := range []struct {
		dst  *string
		name string
	}{{&m.CAFile, "ca.pem"}, {&m.CertFile, "node.pem"}, {&m.KeyFile, "node.key"}} {
		if *f.dst == "" {
			if _, err := os.Stat(filepath.Join(dir, f.name)); err == nil {
				*f.dst = filepath.Join(dir, f.name)
			}
		}
	}
	cfg.MQTT = m
	if err := cfg.Validate(); err != nil {
		return m, fmt.Errorf("mqtt settings from the identity's brokers: %w", err)
	}
	return m, nil
}
