// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// simulatedHardware returns in-memory GPIO: an LED, a shutter whose sensor
// follows the drive after 200 ms (like a real solenoid with a reed switch),
// and a button.
func simulatedHardware(log *gpiotest.Log) hardware {
	led := &gpiotest.LED{Log: log}
	sh := &gpiotest.Shutter{Log: log, Feedback: true, AutoFeedback: true, FeedbackDelay: 200 * time.Millisecond}
	return hardware{led: led, shutter: sh, button: &gpiotest.Button{},
		halt: func() error { return errorsJoin(sh.Drive(false), led.Set(false)) }}
}

// cmdDemo runs a complete node with a synthetic camera and simulated GPIO in
// a temporary directory: no hardware, no setup.
func cmdDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	zone := fs.String("zone", "reception", "zone class to provision the demo node into (try consulting)")
	room := fs.String("room", "Front desk", "room label")
	size := fs.String("size", "640x480", "synthetic picture size")
	fps := fs.Int("fps", 30, "synthetic frame rate")
	privacy := fs.String("privacy", "off", "privacy mode on first boot: on or off")
	verbose := fs.Bool("v", false, "log every agent transition")
	withMQTT := fs.Bool("mqtt", true, "run an embedded MQTT broker on loopback and link the node to it")
	lvAddr := fs.String("liveview", "127.0.0.1:8443", "live-view HTTPS address (\"\" = off); media on the next port (UDP)")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		return exitError{code: 2, msg: fmt.Sprintf("demo: -size %q: want WIDTHxHEIGHT", *size)}
	}

	dir, err := os.MkdirTemp("", "camnode-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	hub, err := newDemoHub(dir)
	if err != nil {
		return err
	}
	cfg, err := provisionDemo(dir, firmware.Identity{
		NodeID: "demo-node", Site: "Demo Practice", Room: *room, ZoneClass: *zone,
		InitialPrivacy: *privacy, Installer: "camnode demo", IssuedAt: time.Now().UTC(), HubKey: hub.pub,
	})
	if err != nil {
		return err
	}
	cfg.Camera = config.Camera{Source: "synthetic", Width: w, Height: h, FPS: *fps, Formats: []string{"I420"}}
	cfg.GPIO.Simulate = true
	if *lvAddr != "" {
		if cfg.LiveView, err = hub.liveViewConfig(dir, *lvAddr); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var brokerURL string
	if *withMQTT {
		url, stop, err := mqtt.StartEmbeddedBroker(ctx, "127.0.0.1:0", log)
		if err != nil {
			return err
		}
		defer stop()
		brokerURL = url
		cfg.MQTT.Brokers, cfg.MQTT.Insecure, cfg.MQTT.Keepalive = []string{url}, true, config.Duration(5*time.Second)
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	hw := simulatedHardware(nil)
	btn := hw.button.(*gpiotest.Button)

	fmt.Fprintf(stdout, "camnode demo: node %q in %q (zone %s), state in %s\n", "demo-node", *room, *zone, dir)
	fmt.Fprintf(stdout, "  toggle privacy:  type p + Enter (the privacy button), or in another shell:\n")
	camnodeCmd, camctlCmd := toolPath("camnode"), toolPath("camctl")
	fmt.Fprintf(stdout, "                   %s privacy -socket %s on|off|status\n", camnodeCmd, cfg.Node.ControlSocket)
	if brokerURL != "" {
		fmt.Fprintf(stdout, "  MQTT broker:     %s (embedded, plaintext, loopback only: demo use)\n", brokerURL)
		fmt.Fprintf(stdout, "                   %s watch -broker %s -insecure\n", camctlCmd, brokerURL)
		fmt.Fprintf(stdout, "                   %s privacy -broker %s -insecure demo-node on|off\n", camctlCmd, brokerURL)
	}
	if *lvAddr != "" {
		if err := hub.printURL(stdout, "demo-node", *lvAddr); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "  quit:            q + Enter or Ctrl-C\n\n")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go readKeys(stdin, btn, cancel)
	return runNode(ctx, cfg, hw, nodeOptions{ready: func(a *agent.Agent) {
		go showStatus(ctx, a, stdout)
	}}, log)
}

// provisionDemo does what an installer does, in dir: an installer key, the
// pinned key file and a signed identity.
func provisionDemo(dir string, id firmware.Identity) (config.Config, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return config.Config{}, err
	}
	signed, err := firmware.SignIdentity(id, priv)
	if err != nil {
		return config.Config{}, err
	}
	cfg := config.Default()
	cfg.Node = config.Node{
		IdentityFile:      filepath.Join(dir, "identity.json"),
		InstallerKeysFile: filepath.Join(dir, "installer-keys.pub"),
		StateDir:          filepath.Join(dir, "state"),
		ControlSocket:     filepath.Join(dir, "control.sock"),
	}
	if err := os.WriteFile(cfg.Node.IdentityFile, signed, 0o644); err != nil {
		return cfg, err
	}
	if err := os.WriteFile(cfg.Node.InstallerKeysFile, []byte(firmware.FormatKey(pub, "demo installer")), 0o644); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// readKeys turns "p" lines into button presses and "q" into quit.
func readKeys(r io.Reader, btn *gpiotest.Button, quit func()) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "p", "P":
			btn.Press()
		case "q", "Q":
			quit()
			return
		}
	}
}

// showStatus prints one line per status change: what a person standing in
// front of the node would see (LED, shutter) and what the agent says.
func showStatus(ctx context.Context, a *agent.Agent, w io.Writer) {
	ch, cancel := a.Subscribe()
	defer cancel()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var last string
	var st agent.Status
	for {
		select {
		case <-ctx.Done():
			return
		case st = <-ch:
		case <-tick.C:
			st = a.Status()
		}
		if line := statusLine(st); line != last || st.Recording {
			if line != last {
				fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05.000"), line)
			}
			last = line
		}
	}
}

func statusLine(st agent.Status) string {
	led := "LED ○ off"
	if st.LED {
		led = "LED ● REC"
	}
	mode := "privacy OFF"
	if st.Privacy {
		mode = "privacy ON "
	}
	s := fmt.Sprintf("%s | %s | shutter %-7s | camera %-9s", mode, led, st.Shutter, st.Capture)
	if st.Recording {
		s += " | " + st.Format
	}
	if !st.CaptureAllowed {
		s += " | LOCKED: " + st.ZoneReason
	}
	if f := st.FaultList(); len(f) > 0 {
		s += " | faults: " + strings.Join(f, "; ")
	}
	return s
}

// toolPath names a camnode tool the way a person can run it: the binary
// beside this one when it is there (scripts/demo builds both into bin/),
// else the bare name.
func toolPath(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if _, err := os.Stat(p); err != nil {
		return name
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return p
}
