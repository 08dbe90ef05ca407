// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"periph.io/x/host/v3"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio"
)

// Check outcomes.
const (
	checkPass = "PASS"
	checkWarn = "WARN"
	checkFail = "FAIL"
)

// checkResult is one line of the installer's self-test.
type checkResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// checkDeps is what the checks take from the world; tests inject fakes.
type checkDeps struct {
	root     fs.FS // filesystem root, for the audio scan
	readFile func(string) ([]byte, error)
	stat     func(string) (fs.FileInfo, error)
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	now      func() time.Time
	// ntp reports whether the clock is NTP-synchronized; present is false
	// when there is no way to tell (no timedatectl).
	ntp func(ctx context.Context) (synced, present bool, err error)
	// openGPIO opens the privacy hardware; halt drives it safe.
	openGPIO func(gpio.Config, *slog.Logger) (led agent.LED, shutter agent.Shutter, halt func() error, err error)
	// probe opens the camera, lists its formats and negotiates, without
	// streaming. It is only called when the zone allows capture.
	probe func(config.Camera, *slog.Logger) (capture.ProbeInfo, error)
}

// cmdCheck is the installer's self-test on a node:
//
//	camnode check [-config FILE] [-no-gpio] [-json] [-timeout 5s]
//
// It exits 0 when every check passes (warnings allowed) and 1 when any fails.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/boot/firmware/camnode/camnode.toml", "configuration file")
	noGPIO := fs.Bool("no-gpio", false, "skip the LED and shutter test")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout for each network dial")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 0 || *timeout <= 0 {
		return exitError{code: 2, msg: "usage: camnode check [-config FILE] [-no-gpio] [-json] [-timeout 5s]"}
	}
	deps := checkDeps{
		root:     os.DirFS("/"),
		readFile: func(p string) ([]byte, error) { return firmware.ReadFile(p, firmware.MaxCertFileSize) },
		stat:     os.Stat,
		dial:     (&net.Dialer{Timeout: *timeout}).DialContext,
		now:      time.Now,
		ntp:      timedatectlNTP,
		openGPIO: openCheckGPIO,
		probe:    probeCamera,
	}
	var results []checkResult
	cfg, err := config.Load(*path)
	if err != nil {
		results = []checkResult{{"config", checkFail, err.Error()}}
	} else {
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		results = runChecks(ctx, cfg, *noGPIO, *timeout, deps, log)
		results = append([]checkResult{{"config", checkPass, *path}}, results...)
	}
	return reportChecks(results, *asJSON, stdout)
}

// reportChecks prints the results and maps them to the exit code.
func reportChecks(results []checkResult, asJSON bool, w io.Writer) error {
	failed := 0
	for _, r := range results {
		if r.Status == checkFail {
			failed++
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			OK     bool          `json:"ok"`
			Checks []checkResult `json:"checks"`
		}{failed == 0, results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			fmt.Fprintf(w, "%-4s  %-10s %s\n", r.Status, r.Name, r.Detail)
		}
		if failed == 0 {
			fmt.Fprintln(w, "all checks passed")
		} else {
			fmt.Fprintf(w, "%d check(s) failed\n", failed)
		}
	}
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

// runChecks runs every check in order.
func runChecks(ctx context.Context, cfg config.Config, noGPIO bool, timeout time.Duration, d checkDeps, log *slog.Logger) []checkResult {
	idRes, zoneRes, id := checkIdentity(cfg.Node, d.readFile)
	out := []checkResult{idRes, zoneRes, checkAudio(d.root),
		checkCamera(cfg.Camera, zoneRes.Status == checkPass, d.stat, d.probe, log)}
	if noGPIO {
		out = append(out, checkResult{"gpio", checkWarn, "skipped (-no-gpio)"})
	} else {
		out = append(out, checkGPIO(ctx, cfg.GPIO, d.openGPIO, log))
	}
	tlsConf, tlsErr := nodeTLS(filepath.Dir(cfg.Node.IdentityFile), d.readFile)
	if tlsErr != nil {
		out = append(out, checkResult{"tls", checkFail, tlsErr.Error()})
	}
	out = append(out, checkBrokers(ctx, id.Brokers, tlsConf, timeout, d.dial)...)
	return append(out, checkClock(ctx, d.now, d.ntp))
}

// checkIdentity verifies the signed identity and gives the zone verdict.
func checkIdentity(n config.Node, readFile func(string) ([]byte, error)) (idRes, zoneRes checkResult, id firmware.Identity) {
	id, err := func() (firmware.Identity, error) {
		keys, err := readFile(n.InstallerKeysFile)
		if err != nil {
			return firmware.Identity{}, fmt.Errorf("installer keys: %w", err)
		}
		pub, err := firmware.ParseKeys(keys)
		if err != nil {
			return firmware.Identity{}, fmt.Errorf("%s: %w", n.InstallerKeysFile, err)
		}
		data, err := readFile(n.IdentityFile)
		if err != nil {
			return firmware.Identity{}, fmt.Errorf("identity: %w", err)
		}
		return firmware.VerifyIdentity(data, pub)
	}()
	if err != nil {
		idRes = checkResult{"identity", checkFail, err.Error()}
	} else {
		idRes = checkResult{"identity", checkPass, fmt.Sprintf("node %s, site %q, room %q, signed by %s", id.NodeID, id.Site, id.Room, id.Installer)}
	}
	if ok, reason := agent.ZoneVerdict(id, err); ok {
		zoneRes = checkResult{"zone", checkPass, fmt.Sprintf("zone %q: the camera may run", id.ZoneClass)}
	} else {
		zoneRes = checkResult{"zone", checkFail, reason + ": the camera will never run on this node"}
	}
	return idRes, zoneRes, id
}

// checkAudio fails when any sound card or capture device is present.
func checkAudio(root fs.FS) checkResult {
	if found := capture.ScanAudio(root); found != "" {
		return checkResult{"audio", checkFail, found + " (the agent refuses capture while it is present)"}
	}
	return checkResult{"audio", checkPass, "no sound card, no capture PCM"}
}

// checkCamera checks the configured V4L2 camera: a character device that
// opens as a capture device, what it offers and what the agent would
// stream. On a node whose zone does not allow capture it does not touch the
// device at all (invariant 3 holds for the self-test too).
func checkCamera(c config.Camera, zoneOK bool, stat func(string) (fs.FileInfo, error),
	probe func(config.Camera, *slog.Logger) (capture.ProbeInfo, error), log *slog.Logger) checkResult {
	if c.Source != "v4l2" {
		return checkResult{"camera", checkWarn, fmt.Sprintf("camera.source is %q, not a real camera", c.Source)}
	}
	if !zoneOK {
		return checkResult{"camera", checkWarn, "not opened: the zone does not allow capture on this node"}
	}
	st, err := stat(c.Device)
	switch {
	case err != nil:
		return checkResult{"camera", checkFail, err.Error()}
	case st.Mode()&fs.ModeCharDevice == 0:
		return checkResult{"camera", checkFail, fmt.Sprintf("%s is not a character device (mode %v)", c.Device, st.Mode())}
	}
	info, err := probe(c, log)
	if err != nil {
		if len(info.Offered) > 0 {
			return checkResult{"camera", checkFail, fmt.Sprintf("%s: %v (it offers %s)", c.Device, err, strings.Join(info.Offered, " "))}
		}
		return checkResult{"camera", checkFail, err.Error() + " (is camnode.service stopped?)"}
	}
	return checkResult{"camera", checkPass, c.Device + ": " + info.String()}
}

// probeCamera opens the configured V4L2 camera through the agent's own
// capture code and closes it again.
func probeCamera(c config.Camera, log *slog.Logger) (capture.ProbeInfo, error) {
	src, err := newCamera(c, log)
	if err != nil {
		return capture.ProbeInfo{}, err
	}
	v, ok := src.(*capture.V4L2)
	if !ok {
		return capture.ProbeInfo{}, fmt.Errorf("camera.source %q cannot be probed", c.Source)
	}
	return v.Probe()
}

// checkGPIO blinks the LED and cycles the shutter, confirming each move on
// the feedback switch when there is one. It always ends with the outputs
// safe. The camera is never opened.
func checkGPIO(ctx context.Context, c config.GPIO, open func(gpio.Config, *slog.Logger) (agent.LED, agent.Shutter, func() error, error), log *slog.Logger) (res checkResult) {
	if c.Simulate {
		return checkResult{"gpio", checkWarn, "gpio.simulate is set: no hardware tested"}
	}
	led, shutter, halt, err := open(c.Config, log)
	if err != nil {
		return checkResult{"gpio", checkFail, err.Error() + " (is camnode.service stopped?)"}
	}
	defer func() {
		if err := halt(); err != nil {
			res = checkResult{"gpio", checkFail, "halting outputs: " + err.Error()}
		}
	}()
	for range 3 {
		for _, on := range []bool{true, false} {
			if err := led.Set(on); err != nil {
				return checkResult{"gpio", checkFail, err.Error()}
			}
			if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
				return checkResult{"gpio", checkFail, "interrupted"}
			}
		}
	}
	detail := fmt.Sprintf("led %s blinked 3 times; ", c.LED)
	if !shutter.HasFeedback() {
		for _, open := range []bool{true, false} {
			if err := shutter.Drive(open); err != nil {
				return checkResult{"gpio", checkFail, detail + err.Error()}
			}
			if err := sleepCtx(ctx, c.ShutterConfirmTimeout.D()); err != nil {
				return checkResult{"gpio", checkFail, "interrupted"}
			}
		}
		return checkResult{"gpio", checkWarn, detail + "shutter cycled but not confirmed: no gpio.shutter_feedback"}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fb := shutter.Watch(wctx)
	state := false
	for _, want := range []bool{true, false} {
		if err := shutter.Drive(want); err != nil {
			return checkResult{"gpio", checkFail, detail + err.Error()}
		}
		deadline := time.NewTimer(c.ShutterConfirmTimeout.D())
	wait:
		for state != want {
			select {
			case v, ok := <-fb:
				if !ok {
					deadline.Stop()
					return checkResult{"gpio", checkFail, detail + "shutter feedback stopped"}
				}
				state = v
			case <-deadline.C:
				break wait
			}
		}
		deadline.Stop()
		if state != want {
			return checkResult{"gpio", checkFail, fmt.Sprintf("%sshutter driven %s but feedback still says %s after %v", detail, openClosed(want), openClosed(state), c.ShutterConfirmTimeout.D())}
		}
	}
	return checkResult{"gpio", checkPass, detail + "shutter opened and closed, both confirmed by feedback"}
}

func openClosed(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// openCheckGPIO opens the real pins through periph.
func openCheckGPIO(c gpio.Config, log *slog.Logger) (agent.LED, agent.Shutter, func() error, error) {
	if _, err := host.Init(); err != nil {
		return nil, nil, nil, fmt.Errorf("gpio: %w", err)
	}
	d, err := gpio.Open(c, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return d.LED, d.Shutter, d.Halt, nil
}

// nodeTLS builds the client TLS configuration from ca.pem, node.pem and
// node.key next to the identity file (where camctl provision puts them).
// Missing files mean system roots and no client certificate.
func nodeTLS(dir string, readFile func(string) ([]byte, error)) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	read := func(name string) ([]byte, error) {
		b, err := readFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	ca, err := read("ca.pem")
	if err != nil {
		return nil, err
	}
	if ca != nil {
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("%s: no PEM certificate", filepath.Join(dir, "ca.pem"))
		}
	}
	cert, err1 := read("node.pem")
	key, err2 := read("node.key")
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if cert != nil || key != nil {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s: node.pem/node.key: %w", dir, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// checkBrokers dials each broker: TCP for mqtt://, TCP and a TLS handshake
// (with the client certificate, if any) for mqtts://.
func checkBrokers(ctx context.Context, brokers []string, tlsConf *tls.Config, timeout time.Duration, dial func(context.Context, string, string) (net.Conn, error)) []checkResult {
	if len(brokers) == 0 {
		return []checkResult{{"broker", checkWarn, "no broker in the identity: the node will not report to a hub"}}
	}
	var out []checkResult
	for _, b := range brokers {
		out = append(out, checkBroker(ctx, b, tlsConf, timeout, dial))
	}
	return out
}

func checkBroker(ctx context.Context, broker string, tlsConf *tls.Config, timeout time.Duration, dial func(context.Context, string, string) (net.Conn, error)) checkResult {
	fail := func(format string, a ...any) checkResult {
		return checkResult{"broker", checkFail, broker + ": " + fmt.Sprintf(format, a...)}
	}
	u, err := url.Parse(broker)
	if err != nil {
		return fail("%v", err)
	}
	secure := false
	port := "1883"
	switch u.Scheme {
	case "mqtts", "ssl", "tls":
		secure, port = true, "8883"
	case "mqtt", "tcp":
	default:
		return fail("scheme %q is not mqtt or mqtts", u.Scheme)
	}
	if u.Hostname() == "" {
		return fail("no host")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(u.Hostname(), port)
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return fail("%v", err)
	}
	defer conn.Close()
	if !secure {
		return checkResult{"broker", checkWarn, broker + ": TCP reachable, but not TLS"}
	}
	conf := tlsConf.Clone()
	if conf == nil {
		conf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	conf.ServerName = u.Hostname()
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail("TLS: %v", err)
	}
	client := "without a client certificate"
	if len(conf.Certificates) > 0 {
		client = "with the node certificate"
	}
	return checkResult{"broker", checkPass, fmt.Sprintf("%s: TLS handshake ok (%s)", broker, client)}
}

// checkClock wants a year of 2025 or later and, where timedatectl can
// tell, an NTP-synchronized clock: certificates and audit times need it.
func checkClock(ctx context.Context, now func() time.Time, ntp func(context.Context) (bool, bool, error)) checkResult {
	t := now()
	if t.Year() < 2025 {
		return checkResult{"clock", checkFail, fmt.Sprintf("clock says %s: not set (no RTC and no NTP yet?)", t.UTC().Format(time.RFC3339))}
	}
	synced, present, err := ntp(ctx)
	switch {
	case err != nil:
		return checkResult{"clock", checkFail, "timedatectl: " + err.Error()}
	case !present:
		return checkResult{"clock", checkWarn, t.UTC().Format(time.RFC3339) + "; NTP state unknown (no timedatectl)"}
	case !synced:
		return checkResult{"clock", checkFail, t.UTC().Format(time.RFC3339) + "; NTP not synchronized (timedatectl NTPSynchronized=no)"}
	}
	return checkResult{"clock", checkPass, t.UTC().Format(time.RFC3339) + ", NTP synchronized"}
}

// timedatectlNTP asks systemd whether the clock is NTP-synchronized.
func timedatectlNTP(ctx context.Context) (synced, present bool, err error) {
	if _, err := exec.LookPath("timedatectl"); err != nil {
		return false, false, nil
	}
	out, err := exec.CommandContext(ctx, "timedatectl", "show", "-p", "NTPSynchronized", "--value").Output()
	if err != nil {
		return false, true, err
	}
	return strings.TrimSpace(string(out)) == "yes", true, nil
}
