// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/liveview"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/capture"
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
	var masks []firmware.Mask
	var maskErrs []string
	fs.Func("mask", "privacy mask, as camctl provision -mask takes it (rect:X0,Y0,X1,Y1 or poly:X,Y;X,Y;X,Y..., 0..1 of the picture);\n"+
		"repeat for more. Clinical view: -zone corridor -mask rect:0.55,0.1,0.95,0.9 blanks a consulting room's open door", func(v string) error {
		m, err := firmware.ParseMask(v)
		if err != nil {
			maskErrs = append(maskErrs, "demo: -mask "+err.Error())
			return nil
		}
		masks = append(masks, m)
		return nil
	})
	hostAudio := fs.Bool("host-audio", false, "watch this machine's real sound devices instead of a simulated /dev "+
		"(a sound card here then locks the camera, as it would on a node)")
	keep := fs.Bool("keep", false, "keep the demo's directory (identity, state, audit trail) at quit and print where it is:\n"+
		"the printed camctl audit export command then exports the whole trail, clean stop included")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if len(maskErrs) > 0 {
		return exitError{code: 2, msg: strings.Join(maskErrs, "\n")}
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		return exitError{code: 2, msg: fmt.Sprintf("demo: -size %q: want WIDTHxHEIGHT", *size)}
	}

	dir, err := os.MkdirTemp("", "camnode-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	hub, err := newDemoHub(dir)
	if err != nil {
		return err
	}
	id := firmware.Identity{
		NodeID: "demo-node", Site: "Demo Practice", Room: *room, ZoneClass: *zone,
		InitialPrivacy: *privacy, Installer: "camnode demo", IssuedAt: time.Now().UTC(), HubKey: hub.pub,
		Masks: masks,
	}
	cfg, err := provisionDemo(dir, id)
	if err != nil {
		return err
	}
	cfg.Camera = config.Camera{Source: "synthetic", Width: w, Height: h, FPS: *fps, Formats: []string{"I420"}}
	cfg.GPIO.Simulate = true
	// A node signs a checkpoint every 100 records or 10 minutes; the demo
	// does so sooner, so that a bundle exported after a few presses is
	// signed (docs/audit.md, "Try it with the demo").
	cfg.Audit.CheckpointEvery, cfg.Audit.CheckpointInterval = demoCheckpointEvery, config.Duration(demoCheckpointInterval)
	if *lvAddr != "" {
		if cfg.LiveView, err = hub.liveViewConfig(dir, *lvAddr); err != nil {
			return err
		}
		if len(masks) > 0 {
			// The installer's link outlines the masks (liveview.InstallerRole).
			cfg.LiveView.AllowedRoles = append(cfg.LiveView.AllowedRoles, liveview.InstallerRole)
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
		cfg.MQTT.Brokers, cfg.MQTT.Insecure, cfg.MQTT.Keepalive = []string{url}, true, config.Duration(10*time.Second) // mochi warns at <= 5 s
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	hw := simulatedHardware(nil)
	btn := hw.button.(*gpiotest.Button)
	var mic *simMicrophone
	if !*hostAudio {
		// The real audio guard, watching a simulated /dev: a laptop's own
		// sound card says nothing about a camera node.
		if mic, err = newSimMicrophone(filepath.Join(dir, "sim")); err != nil {
			return err
		}
		hw.audio = capture.AudioGuard{Root: os.DirFS(mic.root), DevDir: filepath.Join(mic.root, "dev"),
			Interval: cfg.Audio.PollInterval.D(), Logger: log.With("component", "audio")}
	}

	// The zone verdict the node will reach (the identity is the one signed
	// above): in a clinical zone there is no camera and no live view.
	allowed, lockReason := agent.ZoneVerdict(id, nil)
	fmt.Fprintf(stdout, "camnode demo: node %q in %q (zone %s), state in %s\n", "demo-node", *room, *zone, dir)
	// Every command on a line of its own, complete: pasted into a shell,
	// it does one thing.
	fmt.Fprintf(stdout, "  toggle privacy:  type p + Enter (the privacy button), or in another shell:\n")
	camnodeCmd, camctlCmd := shellQuote(toolPath("camnode")), shellQuote(toolPath("camctl"))
	for _, op := range []string{"on", "off", "status"} {
		fmt.Fprintf(stdout, "                   %s privacy -socket %s %s\n", camnodeCmd, shellQuote(cfg.Node.ControlSocket), op)
	}
	if brokerURL != "" {
		fmt.Fprintf(stdout, "  MQTT broker:     %s (embedded, plaintext, loopback only: demo use)\n", brokerURL)
		fmt.Fprintf(stdout, "                   %s watch -broker %s -insecure\n", camctlCmd, brokerURL)
		for _, op := range []string{"on", "off"} {
			fmt.Fprintf(stdout, "                   %s privacy -broker %s -insecure demo-node %s\n", camctlCmd, brokerURL, op)
		}
	}
	switch {
	case *lvAddr == "":
	case !allowed:
		fmt.Fprintf(stdout, "  live view:       none: %s; the camera never runs on this node, so there is nothing to view\n", lockReason)
	default:
		if err := hub.printURL(stdout, "demo-node", *lvAddr, "staff"); err != nil {
			return err
		}
		if len(masks) > 0 {
			if err := hub.printURL(stdout, "demo-node", *lvAddr, liveview.InstallerRole); err != nil {
				return err
			}
		}
	}
	if len(masks) > 0 {
		fmt.Fprintf(stdout, "  privacy masks:   %d, signed into the identity and burned into every picture on the node:\n", len(masks))
		fmt.Fprintf(stdout, "                   black for every viewer; the installer link also outlines them\n")
	}
	if mic != nil {
		fmt.Fprintf(stdout, "  microphone:      type a + Enter to plug or unplug a simulated USB microphone\n")
	} else {
		fmt.Fprintf(stdout, "  audio guard:     watching this machine's /dev/snd and /proc/asound (-host-audio)\n")
	}
	fmt.Fprintf(stdout, "  audit trail:     signed every %d records or %s; export it as an evidence bundle and verify that:\n",
		demoCheckpointEvery, demoCheckpointInterval)
	exportCmd, verifyCmd := demoAuditCommands(camctlCmd, cfg)
	fmt.Fprintf(stdout, "                   %s\n                   %s\n", exportCmd, verifyCmd)
	if *keep {
		fmt.Fprintf(stdout, "  quit:            q + Enter or Ctrl-C (-keep: %s stays, to export after quitting)\n\n", dir)
	} else {
		fmt.Fprintf(stdout, "  quit:            q + Enter or Ctrl-C (removes %s; -keep keeps it)\n\n", dir)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := &demoKeys{button: btn, mic: mic, quit: cancel, out: stdout}
	go readKeys(ctx, stdin, keys)
	err = runNode(ctx, cfg, hw, nodeOptions{ready: func(a *agent.Agent) {
		keys.agent.Store(a)
		go showStatus(ctx, a, stdout)
	}}, log)
	// runNode has run the halt sequence: say what the hardware is now.
	fmt.Fprintf(stdout, "camnode demo: stopped: %s\n",
		haltedState(hw.led.(*gpiotest.LED), hw.shutter.(*gpiotest.Shutter), cfg.GPIO.ShutterConfirmTimeout.D()))
	if *keep {
		fmt.Fprintf(stdout, "camnode demo: kept %s; its audit trail now ends with the stop record and a final checkpoint:\n", dir)
		fmt.Fprintf(stdout, "                   %s\n                   %s\n", exportCmd, verifyCmd)
	}
	return err
}

// The demo's checkpoint schedule (config audit.checkpoint_every and
// checkpoint_interval; 10 s is the shortest interval the config takes).
const (
	demoCheckpointEvery    = 5
	demoCheckpointInterval = 30 * time.Second
	// demoBundle is the bundle the printed export command writes, in the
	// current directory (never over an existing file).
	demoBundle = "camnode-demo-audit.tar"
)

// demoAuditCommands are the complete camctl commands that export the
// demo node's audit trail as an evidence bundle and verify it, as on a
// node (docs/audit.md, "Export"): the identity and the installer key are
// beside the state directory, as on a node's boot partition.
func demoAuditCommands(camctl string, cfg config.Config) (export, verify string) {
	export = fmt.Sprintf("%s audit export -state %s -identity %s -installer-keys %s -o %s", camctl,
		shellQuote(cfg.Node.StateDir), shellQuote(cfg.Node.IdentityFile), shellQuote(cfg.Node.InstallerKeysFile), demoBundle)
	return export, fmt.Sprintf("%s audit verify %s", camctl, demoBundle)
}

// haltedState describes the simulated outputs after the halt sequence:
// "LED off, shutter closed" when they are safe, else what is wrong. Like
// the agent, it takes the shutter as closed once its sensor says so,
// waiting for that at most confirm.
func haltedState(led *gpiotest.LED, sh *gpiotest.Shutter, confirm time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), confirm)
	defer cancel()
	if ch := sh.Watch(ctx); ch != nil { // nil without a feedback sensor
		for open := range ch { // the current state, then each change
			if !open {
				break
			}
		}
	}
	if !led.On() && !sh.IsOpen() && !sh.SensorOpen() {
		return "LED off, shutter closed"
	}
	return fmt.Sprintf("NOT SAFE: LED %s, shutter driven %s, sensor %s",
		onOffWord(led.On()), openClosed(sh.IsOpen()), openClosed(sh.SensorOpen()))
}

func onOffWord(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"$`\\*?[]#~;&|<>(){}!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// provisionDemo does what an installer does, in dir: an installer key, the
// pinned key file, the node's audit key and a signed identity naming it
// (so that camctl audit export/verify work on the demo's trail).
func provisionDemo(dir string, id firmware.Identity) (config.Config, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return config.Config{}, err
	}
	auditPub, auditPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return config.Config{}, err
	}
	auditPEM, err := firmware.MarshalPrivateKey(auditPriv)
	if err != nil {
		return config.Config{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, auditKeyFile), auditPEM, 0o600); err != nil {
		return config.Config{}, err
	}
	id.AuditKey = base64.StdEncoding.EncodeToString(auditPub)
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

// demoKeys is what the demo's keyboard drives.
type demoKeys struct {
	button *gpiotest.Button
	mic    *simMicrophone // nil with -host-audio
	quit   func()
	out    io.Writer
	agent  atomic.Pointer[agent.Agent] // set once the node runs
}

// readKeys turns "p" lines into privacy-button presses, "a" into plugging
// or unplugging the simulated microphone and "q" into quit.
func readKeys(ctx context.Context, r io.Reader, k *demoKeys) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "p", "P":
			k.pressPrivacy(ctx)
		case "a", "A":
			if k.mic == nil {
				fmt.Fprintln(k.out, "demo: -host-audio watches the real sound devices; there is no simulated microphone")
				continue
			}
			plugged, err := k.mic.toggle()
			switch {
			case err != nil:
				fmt.Fprintf(k.out, "demo: microphone: %v\n", err)
			case plugged:
				fmt.Fprintln(k.out, "demo: USB microphone plugged in (simulated /dev/snd/pcmC1D0c)")
			default:
				fmt.Fprintln(k.out, "demo: USB microphone unplugged")
			}
		case "q", "Q":
			k.quit()
			return
		}
	}
}

// pressPrivacy is the privacy button: the same toggle a button press sends
// the agent (source "button"), but the demo waits for the outcome and
// prints it, refusals included (a button has no reply; status shows it).
func (k *demoKeys) pressPrivacy(ctx context.Context) {
	a := k.agent.Load()
	if a == nil {
		k.button.Press() // the node is still starting: the plain button
		return
	}
	st, err := a.TogglePrivacy(ctx, agent.SourceButton, "button")
	var ref *agent.RefusedError
	switch {
	case errors.As(err, &ref):
		fmt.Fprintf(k.out, "demo: privacy button: refused: %s (privacy stays on)\n", ref.Reason)
	case err != nil:
		fmt.Fprintf(k.out, "demo: privacy button: %v\n", err)
	default:
		fmt.Fprintf(k.out, "demo: privacy button: privacy %s\n", onOffWord(st.Privacy))
	}
}

// simMicrophone is a USB microphone on a simulated /dev: plugging it
// creates dev/snd/pcmC1D0c under root, as the kernel would, and the agent's
// real audio guard (inotify on root/dev) sees it.
type simMicrophone struct {
	root string
}

func newSimMicrophone(root string) (*simMicrophone, error) {
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		return nil, err
	}
	return &simMicrophone{root: root}, nil
}

// toggle plugs the microphone in if it is out, and out if it is in.
func (m *simMicrophone) toggle() (plugged bool, err error) {
	snd := filepath.Join(m.root, "dev", "snd")
	pcm := filepath.Join(snd, "pcmC1D0c")
	if _, err := os.Stat(pcm); err == nil {
		return false, os.RemoveAll(snd)
	}
	if err := os.MkdirAll(snd, 0o755); err != nil {
		return false, err
	}
	return true, os.WriteFile(pcm, nil, 0o600)
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
	if st.Masks > 0 {
		s += fmt.Sprintf(" | %d mask(s)", st.Masks)
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
