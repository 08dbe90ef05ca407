// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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
	"strings"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"periph.io/x/host/v3"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/mqtt"
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
	now      func() time.Time
	// ntp reports whether the clock is NTP-synchronized; present is false
	// when there is no way to tell (no timedatectl).
	ntp func(ctx context.Context) (synced, present bool, err error)
	// openGPIO opens the privacy hardware; halt drives it safe.
	openGPIO func(gpio.Config, *slog.Logger) (led agent.LED, shutter agent.Shutter, halt func() error, err error)
	// probe opens the camera, lists its formats and negotiates, without
	// streaming. It is only called when the zone allows capture.
	probe func(c config.Camera, needRaw bool, log *slog.Logger) (capture.ProbeInfo, error)
}

// cmdCheck is the installer's self-test on a node:
//
//	camnode check [-config FILE] [-no-gpio] [-json] [-timeout 5s]
//	camnode check [-config FILE] -snapshot FILE.jpg
//
// It exits 0 when every check passes (warnings allowed) and 1 when any fails.
// With -snapshot it runs no checks: it writes one masked picture instead
// (cmdSnapshot).
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	noGPIO := fs.Bool("no-gpio", false, "skip the LED and shutter test")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for each broker's answer")
	snapshot := fs.String("snapshot", "", "write one masked picture to this JPEG file (audited; camnode.service stopped, privacy off)")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 0 || *timeout <= 0 {
		return exitError{code: 2, msg: "usage: camnode check [-config FILE] [-no-gpio] [-json] [-timeout 5s] | [-config FILE] -snapshot FILE.jpg"}
	}
	if *snapshot != "" {
		if *noGPIO || *asJSON {
			// The snapshot drives the LED and shutter like the agent: it
			// cannot skip them, and it prints one line, not check results.
			return exitError{code: 2, msg: "camnode check: -snapshot takes no -no-gpio or -json"}
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return exitError{code: 1, msg: "snapshot: " + err.Error()}
		}
		return cmdSnapshot(ctx, cfg, *snapshot, stdout, stderr)
	}
	deps := checkDeps{
		root:     os.DirFS("/"),
		readFile: func(p string) ([]byte, error) { return firmware.ReadFile(p, firmware.MaxCertFileSize) },
		stat:     os.Stat,
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
		deps.probe = auditedProbe(deps.probe, checkRecorder(ctx, cfg.Node)) // audited before it opens the camera
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
	idRes, zoneRes, id, idErr := checkIdentity(cfg.Node, d.readFile)
	out := []checkResult{idRes, zoneRes, checkAudio(d.root),
		checkCamera(cfg.Camera, len(id.Masks) > 0, zoneRes.Status == checkPass, d.stat, d.probe, log)}
	if noGPIO {
		out = append(out, checkResult{"gpio", checkWarn, "skipped (-no-gpio)"})
	} else {
		out = append(out, checkGPIO(ctx, cfg.GPIO, d.openGPIO, log))
	}
	out = append(out, checkMQTT(ctx, cfg, id, idErr, timeout)...)
	out = append(out, checkRecorderStream(cfg.Recorder, d.now())...)
	return append(out, checkClock(ctx, d.now, d.ntp))
}

// checkIdentity verifies the signed identity and gives the zone verdict.
func checkIdentity(n config.Node, readFile func(string) ([]byte, error)) (idRes, zoneRes checkResult, id firmware.Identity, err error) {
	id, err = func() (firmware.Identity, error) {
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
	return idRes, zoneRes, id, err
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
func checkCamera(c config.Camera, needRaw, zoneOK bool, stat func(string) (fs.FileInfo, error),
	probe func(c config.Camera, needRaw bool, log *slog.Logger) (capture.ProbeInfo, error), log *slog.Logger) checkResult {
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
	info, err := probe(c, needRaw, log)
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
func probeCamera(c config.Camera, needRaw bool, log *slog.Logger) (capture.ProbeInfo, error) {
	src, err := newCamera(c, needRaw, log)
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
		return nil, nil, nil, fmt.Errorf("gpio: the GPIO drivers did not start (%w): is this the node's board, with /dev/gpiochip* present?", err)
	}
	d, err := gpio.Open(c, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return d.LED, d.Shutter, d.Halt, nil
}

// checkMQTT checks the hub link as `camnode run` would make it: the [mqtt]
// section, or else the brokers signed into the identity with the TLS files
// provisioned beside it (mqttFromIdentity, the same path run takes). Each
// broker gets what the link does, through the same MQTT client options:
// TLS with the node certificate and an MQTT CONNECT; then a SUBSCRIBE to
// the node's command topic, the one request whose refusal a broker reports
// in MQTT 3.1.1 (SUBACK 0x80): it shows whether the broker's ACL lets this
// certificate act as this node. A result is PASS only when the broker
// accepted the CONNECT and the subscription.
func checkMQTT(ctx context.Context, cfg config.Config, id firmware.Identity, idErr error, timeout time.Duration) []checkResult {
	m, err := mqttFromIdentity(cfg, id, idErr)
	if err != nil {
		return []checkResult{{"broker", checkFail, err.Error()}}
	}
	if !m.Enabled() {
		why := "no broker in [mqtt] nor in the identity"
		if idErr != nil {
			why = "no broker in [mqtt], and the identity (which may name some) does not verify"
		}
		return []checkResult{{"broker", checkWarn, why + ": the node will not report to a hub"}}
	}
	var out []checkResult
	for _, b := range m.Brokers {
		out = append(out, checkBroker(ctx, m, b, id.NodeID, timeout))
	}
	return out
}

// checkBroker connects to one broker with the node's client settings and
// reports the broker's answer.
func checkBroker(ctx context.Context, m config.MQTT, broker, node string, timeout time.Duration) checkResult {
	res := func(status, format string, a ...any) checkResult {
		return checkResult{"broker", status, broker + ": " + fmt.Sprintf(format, a...)}
	}
	cc := clientConfig(m)
	cc.Brokers = []string{broker}
	// Not the node's own client id: a running node would be disconnected
	// by the broker (session takeover) while the check is connected.
	if cc.ClientID == "" {
		cc.ClientID = node
	}
	cc.ClientID += "-check"
	opts, err := cc.Options()
	if err != nil {
		return res(checkFail, "%v", err)
	}
	// One attempt, bounded, with MQTT 3.1.1 only (paho would otherwise
	// retry a refused CONNECT as 3.1 and report that answer instead).
	opts.SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(timeout).
		SetDialer(&net.Dialer{Timeout: timeout}).SetProtocolVersion(4)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if err := waitToken(ctx, tok, timeout); err != nil {
		return res(checkFail, "no answer to CONNECT: %v", err)
	}
	if err := tok.Error(); err != nil {
		rc := tok.(*paho.ConnectToken).ReturnCode()
		if rc == packets.ErrNetworkError && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			// With TLS 1.3 a broker that refuses the client certificate
			// says so after the client's side of the handshake is done:
			// paho's CONNECT then meets a reset. Ask again, listening
			// for the broker's alert instead of writing.
			if alert := tlsAlert(ctx, broker, cc, timeout); alert != nil {
				err = alert
			}
		}
		return res(checkFail, "%s", describeConnectError(rc, err))
	}
	defer c.Disconnect(250)
	how := "TLS with the node certificate"
	if strings.HasPrefix(broker, "tcp://") || strings.HasPrefix(broker, "mqtt://") {
		how = "plaintext (insecure = true)"
	}
	if node == "" {
		return res(checkWarn, "%s, CONNECT accepted (CONNACK 0); the node's topics are not checked: the identity does not verify", how)
	}
	// The shipped ACL (use_identity_as_username, pattern camnode/%u/...)
	// keys on the certificate's CN. A broker accepts the CONNECT of a
	// certificate whose CN is another name, and then acknowledges and
	// drops its publishes (MQTT 3.1.1 cannot refuse one).
	if cn, err := certCN(cc.CertFile); err != nil {
		return res(checkFail, "%s, CONNECT accepted, but the node certificate: %v", how, err)
	} else if cn != "" && cn != node {
		return res(checkFail, "%s, CONNECT accepted (CONNACK 0), but the certificate's CN is %q, not the node id %q: "+
			"the broker's ACL gives this certificate the topics of %q, so it acknowledges and drops every publish of "+
			"this node (audit records included) and never delivers its commands; issue node.pem with CN %q",
			how, cn, node, cn, node)
	}
	topic := mqtt.NodeTopics(m.TopicPrefix, node).Command
	st := c.Subscribe(topic, 1, func(paho.Client, paho.Message) {})
	if err := waitToken(ctx, st, timeout); err != nil {
		return res(checkFail, "%s, CONNECT accepted, but no answer to SUBSCRIBE %s: %v", how, topic, err)
	}
	if err := st.Error(); err != nil {
		return res(checkFail, "%s, CONNECT accepted, SUBSCRIBE %s failed: %v", how, topic, err)
	}
	if code := st.(*paho.SubscribeToken).Result()[topic]; code >= 0x80 {
		return res(checkFail, "%s, CONNECT accepted, but the broker refused SUBSCRIBE %s (SUBACK %#x): its ACL does not let "+
			"this certificate act as node %q (is the certificate's CN the node id?); the node could not take commands "+
			"and its publishes would be dropped", how, topic, code, node)
	}
	return res(checkPass, "%s, CONNECT accepted (CONNACK 0), SUBSCRIBE %s accepted", how, topic)
}

// certCN is the common name of the first certificate in the PEM file path,
// or "" without a file (a plaintext broker).
func certCN(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := firmware.ReadFile(path, firmware.MaxCertFileSize)
	if err != nil {
		return "", err
	}
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return "", fmt.Errorf("%s: no PEM certificate", path)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return cert.Subject.CommonName, nil
	}
}

// tlsAlert makes one TLS connection to a TLS broker with the node's TLS
// settings and, without writing anything, waits (at most timeout) for what
// the broker says: the alert with which it refuses the client certificate
// under TLS 1.3. It returns nil when there is nothing more to learn (a
// plaintext broker, or no alert in time).
func tlsAlert(ctx context.Context, broker string, cc mqtt.ClientConfig, timeout time.Duration) error {
	u, err := url.Parse(broker)
	if err != nil || u.Scheme == "tcp" || u.Scheme == "mqtt" {
		return nil
	}
	conf, err := cc.TLS()
	if err != nil {
		return nil
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "8883")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&tls.Dialer{NetDialer: &net.Dialer{}, Config: conf}).DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil && strings.Contains(err.Error(), "tls:") {
		return err
	}
	return nil
}

// waitToken waits for tok, at most timeout (plus a second for paho's own
// timers) or until ctx is done.
func waitToken(ctx context.Context, tok paho.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout + time.Second)
	defer t.Stop()
	select {
	case <-tok.Done():
		return nil
	case <-t.C:
		return fmt.Errorf("timed out after %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// describeConnectError says what went wrong in a CONNECT attempt: the
// broker's CONNACK refusal, a TLS failure (which side refused what), or a
// broker that cannot be reached.
func describeConnectError(rc byte, err error) string {
	if rc != packets.Accepted && rc != packets.ErrNetworkError {
		what := packets.ConnackReturnCodes[rc]
		if what == "" {
			what = err.Error()
		}
		return fmt.Sprintf("the broker refused the CONNECT: CONNACK %d (%s)", rc, what)
	}
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	msg := err.Error()
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr):
		return "TLS: the broker's certificate does not verify against the node's CA (" + innermost(err) + ")"
	case strings.Contains(msg, "remote error: tls:"):
		return "TLS: the broker refused the node certificate (" + innermost(err) + "): is node.pem issued by the broker's CA, and still valid?"
	case strings.Contains(msg, "tls:"):
		return "TLS: " + innermost(err)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "the broker closed the connection during TLS/CONNECT (" + innermost(err) + "): a TLS listener that wants a client certificate, or not an MQTT broker?"
	}
	var nerr net.Error
	var operr *net.OpError
	var dnserr *net.DNSError
	if errors.As(err, &dnserr) || errors.As(err, &operr) && operr.Op == "dial" || errors.As(err, &nerr) && nerr.Timeout() {
		return "unreachable: " + innermost(err)
	}
	return msg
}

// innermost is the message of paho's wrapped cause (it prefixes
// "network Error : ").
func innermost(err error) string {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := u.Unwrap(); len(errs) > 0 {
			return errs[len(errs)-1].Error()
		}
	}
	return err.Error()
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
		return checkResult{"clock", checkFail, t.UTC().Format(time.RFC3339) + "; NTP state unreadable: " + err.Error()}
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
		return false, true, timedatectlError(err)
	}
	return strings.TrimSpace(string(out)) == "yes", true, nil
}

// timedatectlError says why timedatectl failed: its own words (stderr, not
// just "exit status 1") and what an installer should look at.
func timedatectlError(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("timedatectl: %w", err)
	}
	msg := strings.Join(strings.Fields(string(ee.Stderr)), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	if msg == "" {
		msg = "no message"
	}
	hint := ""
	switch {
	case strings.Contains(msg, "not been booted with systemd"), strings.Contains(msg, "Failed to connect to bus"),
		strings.Contains(msg, "Failed to create bus connection"):
		hint = " (timedatectl asks systemd-timedated over D-Bus: is systemd PID 1 here, not a container or chroot, and is dbus running?)"
	case strings.Contains(msg, "timedate1"), strings.Contains(msg, "not found"):
		hint = " (is systemd-timedated installed? apt-get install systemd-timesyncd)"
	}
	return fmt.Errorf("timedatectl show -p NTPSynchronized failed (%v): %s%s", ee.ProcessState, msg, hint)
}
