// SPDX-License-Identifier: Apache-2.0

package mqtttest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mosquitto is the broker binary StartMosquitto runs.
const Mosquitto = "/usr/sbin/mosquitto"

// ACLTemplate is the shipped ACL, relative to the module root.
const ACLTemplate = "firmware/mosquitto/acl.template"

// Options adjust the broker's configuration. The zero value is the
// configuration the tests share.
type Options struct {
	// HubCN replaces HUB_CN in the ACL template: the certificate CN that
	// may read every node and publish commands. Empty means "hub".
	HubCN string
	// LogTypes are the log_type lines of mosquitto.conf. Nil means
	// "all" (every packet and every ACL denial, at a CPU cost a large
	// fleet notices).
	LogTypes []string
	// Config lines are appended to mosquitto.conf, for example
	// "max_queued_messages 10000".
	Config []string
	// NoPersistence runs the broker as mosquitto's default does: nothing
	// (retained messages, sessions, queued messages) survives a Stop.
	NoPersistence bool
	// ExtraACL lines are appended to the shipped ACL (e.g. a read-only
	// "user observer" block).
	ExtraACL []string
	// Nagle leaves Nagle's algorithm on (mosquitto's default). By default
	// the broker runs with set_tcp_nodelay true, as the shipped template
	// asks: with Nagle, small acknowledged publishes wait for delayed ACKs
	// and a command round trip takes ~46 ms instead of ~4 ms.
	Nagle bool
}

// A Broker is a mosquitto process listening on 127.0.0.1 with TLS, started
// by StartMosquitto and stopped when the test ends. Its methods belong to
// the test's goroutine (they may call t.Fatal).
type Broker struct {
	// URL is the listener, "ssl://127.0.0.1:port". It stays the same
	// across Stop and Start.
	URL string
	// Addr is the listener's "127.0.0.1:port".
	Addr string
	// LogFile is the broker's log (log_dest file). It is kept across
	// restarts, appended to, and shown (its end) when the test fails.
	LogFile string
	// ConfigFile is the generated mosquitto.conf.
	ConfigFile string

	t      testing.TB
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
}

// StartMosquitto configures a broker with p's server certificate and CA
// in a new temporary directory of t, with persistence (retained messages
// and persistent sessions survive a Stop and Start), on a free port of
// 127.0.0.1, and starts it (see Start). It stops the broker when the test
// ends. It fails the test when mosquitto (Mosquitto) is not installed or
// the ACL template cannot be found above the working directory.
func StartMosquitto(t testing.TB, p *PKI, opts Options) *Broker {
	t.Helper()
	if _, err := os.Stat(Mosquitto); err != nil {
		t.Fatalf("mosquitto is not installed (%v): run scripts/mosquitto-env", err)
	}
	tmpl, err := readACLTemplate()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	dir := t.TempDir()
	b := &Broker{t: t, URL: fmt.Sprintf("ssl://127.0.0.1:%d", port), Addr: fmt.Sprintf("127.0.0.1:%d", port),
		LogFile: filepath.Join(dir, "mosquitto.log"), ConfigFile: filepath.Join(dir, "mosquitto.conf")}
	hub := opts.HubCN
	if hub == "" {
		hub = "hub"
	}
	acl := filepath.Join(dir, "acl")
	aclText := strings.ReplaceAll(tmpl, "HUB_CN", hub)
	if len(opts.ExtraACL) > 0 {
		aclText += "\n" + strings.Join(opts.ExtraACL, "\n") + "\n"
	}
	if err := os.WriteFile(acl, []byte(aclText), 0o644); err != nil {
		t.Fatal(err)
	}
	logTypes := opts.LogTypes
	if logTypes == nil {
		logTypes = []string{"all"}
	}
	cert, key := p.serverFiles()
	var conf strings.Builder
	fmt.Fprintf(&conf, "user root\npersistence %v\npersistence_location %s/\nlog_dest file %s\n", !opts.NoPersistence, dir, b.LogFile)
	for _, lt := range logTypes {
		fmt.Fprintf(&conf, "log_type %s\n", lt)
	}
	fmt.Fprintf(&conf, `listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
acl_file %s
`, port, p.CAFile(), cert, key, acl)
	if !opts.Nagle {
		fmt.Fprintln(&conf, "set_tcp_nodelay true")
	}
	for _, line := range opts.Config {
		fmt.Fprintln(&conf, line)
	}
	if err := os.WriteFile(b.ConfigFile, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Start()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("mosquitto.log (end):\n%s", b.logTail(64<<10))
		}
	})
	return b
}

// readACLTemplate finds ACLTemplate in the working directory or above it
// (a test runs in its package's directory, inside the module).
func readACLTemplate() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, ACLTemplate))
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("mqtttest: no %s in the working directory or above it", ACLTemplate)
		}
		dir = up
	}
}

// Start starts the broker and waits (at most 10 s) until it accepts TCP
// connections on Addr. It fails the test, with the broker's log, if the
// broker exits instead, or if it is already running.
func (b *Broker) Start() {
	b.t.Helper()
	if b.cmd != nil {
		b.t.Fatal("mqtttest: Start: the broker is running")
	}
	cmd := exec.Command(Mosquitto, "-c", b.ConfigFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.cmd, b.done, b.paused = cmd, done, false
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			b.cmd = nil
			b.t.Fatalf("mosquitto exited:\n%s", b.logTail(64<<10))
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto not listening on %s: %v", b.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port, not an assertion
	}
}

// Stop stops the broker (SIGTERM, resuming it first if paused; SIGKILL
// after 10 s) and waits until it has exited; with persistence it saves its
// state first. Stop does nothing if the broker is not running.
func (b *Broker) Stop() {
	if b.cmd == nil {
		return
	}
	b.Resume()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
}

// Kill kills the broker (SIGKILL: its connections are closed by the
// kernel, nothing is saved) and waits until it has exited. Kill does
// nothing if the broker is not running.
func (b *Broker) Kill() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Kill()
	<-b.done
	b.cmd, b.paused = nil, false
}

// Pause stops the broker's process (SIGSTOP): its TCP connections stay
// open but it answers nothing, as a hung broker. Resume continues it; Stop
// and the end of the test do too.
func (b *Broker) Pause() {
	b.t.Helper()
	if b.cmd == nil {
		b.t.Fatal("mqtttest: Pause: the broker is not running")
	}
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		b.t.Fatal(err)
	}
	b.paused = true
}

// Resume continues a paused broker (SIGCONT). It does nothing if the
// broker is not paused.
func (b *Broker) Resume() {
	if b.cmd == nil || !b.paused {
		return
	}
	b.cmd.Process.Signal(syscall.SIGCONT)
	b.paused = false
}

// PID is the broker's process id, or 0 when it is not running.
func (b *Broker) PID() int {
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// WaitLog waits until one line of the broker's log holds every one of
// words (e.g. "Received SUBSCRIBE from", a client id), polling the file:
// the broker is another process and its log is the only place that says
// when it has handled a packet. It fails the test with the log's end after
// timeout.
func (b *Broker) WaitLog(t testing.TB, timeout time.Duration, words ...string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		log, _ := os.ReadFile(b.LogFile)
		for line := range strings.Lines(string(log)) {
			if containsAll(line, words) {
				return
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("mosquitto log: no line with %q within %v:\n%s", words, timeout, b.logTail(4000))
		}
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// logTail is the last n bytes of the log.
func (b *Broker) logTail(n int64) string {
	log, err := os.ReadFile(b.LogFile)
	if err != nil {
		return err.Error()
	}
	if int64(len(log)) > n {
		return "...\n" + string(log[int64(len(log))-n:])
	}
	return string(log)
}
