// SPDX-License-Identifier: Apache-2.0

//go:build integration

// camctl against a real mosquitto (scripts/mosquitto-env): TLS with client
// certificates, the shipped ACL (firmware/mosquitto/acl.template).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// mqttPKI is a throwaway CA; issue writes NAME.crt/NAME.key with CN NAME.
type mqttPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newMQTTPKI(t *testing.T) *mqttPKI {
	t.Helper()
	p := &mqttPKI{dir: t.TempDir(), serial: 1}
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "camctl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.pem(t, "ca.crt", "CERTIFICATE", der)
	p.issue(t, "server", true)
	return p
}

func (p *mqttPKI) pem(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *mqttPKI) caFile() string { return filepath.Join(p.dir, "ca.crt") }

func (p *mqttPKI) issue(t *testing.T, cn string, server bool) (cert, key string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	return p.pem(t, cn+".crt", "CERTIFICATE", der), p.pem(t, cn+".key", "PRIVATE KEY", kder)
}

// startMosquittoTLS runs /usr/sbin/mosquitto until the test ends: TLS
// 1.2, client certificate required, CN as user name, the shipped ACL with
// HUB_CN = "hub". It returns the ssl:// URL and the broker's log file.
func startMosquittoTLS(t *testing.T, p *mqttPKI) (url, logFile string) {
	t.Helper()
	const bin = "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("mosquitto is not installed (%v): run scripts/mosquitto-env", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	tmpl, err := os.ReadFile("../../firmware/mosquitto/acl.template")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "acl"), []byte(strings.ReplaceAll(string(tmpl), "HUB_CN", "hub")), 0o644)
	conf := fmt.Sprintf(`user root
persistence false
log_dest file %[1]s/mosquitto.log
log_type all
listener %[2]d 127.0.0.1
cafile %[3]s/ca.crt
certfile %[3]s/server.crt
keyfile %[3]s/server.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
acl_file %[1]s/acl
`, dir, port, p.dir)
	os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o644)
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "mosquitto.conf"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "mosquitto.log"))
			t.Logf("mosquitto.log:\n%s", log)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatal("mosquitto exited at start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port
	}
	return fmt.Sprintf("ssl://127.0.0.1:%d", port), filepath.Join(dir, "mosquitto.log")
}

// startTLSNode runs an agent (simulated GPIO) linked to the broker with
// the node's own certificate (CN = node id), until the test ends.
func startTLSNode(t *testing.T, p *mqttPKI, url, node, zone string) *agent.Agent {
	t.Helper()
	dir := t.TempDir()
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 64, Height: 48, Pixel: capture.I420, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := mqtt.OpenOutbox(filepath.Join(dir, "outbox.jsonl"), mqtt.OutboxOptions{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		Identity: firmware.Identity{NodeID: node, Site: "Test", Room: "Room 1", ZoneClass: zone,
			InitialPrivacy: "on", Installer: "test", IssuedAt: time.Now()},
		StatePath: filepath.Join(dir, "privacy.json"),
	}, agent.Deps{LED: &gpiotest.LED{}, Shutter: &gpiotest.Shutter{}, Audit: ob, Camera: cam})
	if err != nil {
		t.Fatal(err)
	}
	cert, key := p.issue(t, node, false)
	l, err := mqtt.NewLink(mqtt.Config{Client: mqtt.ClientConfig{Brokers: []string{url}, CAFile: p.caFile(),
		CertFile: cert, KeyFile: key}, Node: node, Outbox: ob}, a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	aDone, lDone := make(chan struct{}), make(chan struct{})
	go func() { a.Run(ctx); close(aDone) }()
	go func() { l.Run(ctx); close(lDone) }()
	t.Cleanup(func() { cancel(); <-aDone; <-lDone; ob.Close() })
	return a
}

// watchUntil runs `camctl watch -once` with flags until a line of its
// table contains all of want.
func watchUntil(t *testing.T, flags []string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := camctl(t.Context(), append(append([]string{"watch"}, flags...), "-once", "-settle", "500ms")...)
		if err != nil {
			t.Fatalf("watch: %v\n%s", err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch never showed %q:\n%s", want, out)
		}
	}
}

// TestCamctlMosquitto: camctl watch, privacy and audit with the hub's
// certificate against mosquitto with the shipped ACL; camctl privacy with
// a node's certificate is not accepted (the ACL drops the command).
func TestCamctlMosquitto(t *testing.T) {
	p := newMQTTPKI(t)
	url, brokerLog := startMosquittoTLS(t, p)
	lobby := startTLSNode(t, p, url, "lobby-1", "reception")
	exam := startTLSNode(t, p, url, "exam-2", "examination")
	hubCert, hubKey := p.issue(t, "hub", false)
	hub := []string{"-broker", url, "-ca", p.caFile(), "-cert", hubCert, "-key", hubKey}
	run := func(args ...string) (string, error) {
		return camctl(t.Context(), append(append([]string{args[0]}, hub...), args[1:]...)...)
	}

	out := watchUntil(t, hub, "lobby-1", "online", "reception", " on ")
	out = watchUntil(t, hub, "exam-2", "online", "examination (locked)")
	t.Logf("camctl watch -once:\n%s", out)

	// camctl audit prints the records published while it listens. It may
	// subscribe after the first change: a later change is made below.
	auditOut := make(chan string, 1)
	go func() {
		out, err := run("audit", "-n", "1", "-json", "-timeout", "30s", "lobby-1")
		if err != nil {
			out += "ERR " + err.Error()
		}
		auditOut <- out
	}()

	out, err := run("privacy", "-timeout", "15s", "-actor", "hub:test", "lobby-1", "off")
	if exitCode(err) != 0 || !strings.Contains(out, "lobby-1: accepted") || lobby.Status().Privacy {
		t.Fatalf("privacy off: exit %d %v\n%s", exitCode(err), err, out)
	}
	watchUntil(t, hub, "lobby-1", "online", " off ")

	out, err = run("privacy", "-timeout", "15s", "exam-2", "off")
	if exitCode(err) != 3 || !strings.Contains(out, "refused") || !strings.Contains(err.Error(), "examination") || !exam.Status().Privacy {
		t.Fatalf("privacy off in an exam room: exit %d %v\n%s", exitCode(err), err, out)
	}

	// A node's certificate (its own, or another node's) cannot command:
	// mosquitto acknowledges the PUBLISH but the ACL drops it, so no node
	// executes it and camctl times out (exit 1), never "accepted".
	for _, who := range []string{"lobby-1", "exam-2"} {
		cert, key := filepath.Join(p.dir, who+".crt"), filepath.Join(p.dir, who+".key")
		out, err := camctl(t.Context(), "privacy", "-broker", url, "-ca", p.caFile(), "-cert", cert, "-key", key,
			"-timeout", "3s", "-actor", "rogue", "lobby-1", "on")
		if exitCode(err) != 1 || strings.Contains(out, "accepted") {
			t.Fatalf("privacy with %s's certificate: exit %d %v\n%s", who, exitCode(err), err, out)
		}
		if lobby.Status().Privacy {
			t.Fatalf("a command sent with %s's certificate switched lobby-1's privacy on", who)
		}
		t.Logf("camctl privacy with %s's certificate: exit %d: %v", who, exitCode(err), err)
	}
	// And it was the ACL that stopped them (log_type all logs denials).
	log, _ := os.ReadFile(brokerLog)
	denied := 0
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "Denied PUBLISH") && strings.Contains(line, "'camnode/lobby-1/cmd/privacy'") {
			denied++
		}
	}
	if denied != 2 {
		t.Fatalf("mosquitto logged %d denied commands, want the 2 sent with node certificates", denied)
	}

	out, err = run("privacy", "-timeout", "15s", "-actor", "hub:test", "lobby-1", "on")
	if exitCode(err) != 0 || !lobby.Status().Privacy {
		t.Fatalf("privacy on: exit %d %v\n%s", exitCode(err), err, out)
	}
	select {
	case out := <-auditOut:
		var rec agent.AuditRecord
		if strings.Contains(out, "ERR") || json.Unmarshal([]byte(strings.TrimSpace(out)), &rec) != nil {
			t.Fatalf("camctl audit printed:\n%s", out)
		}
		if rec.Source != agent.SourceHub || rec.Actor != "hub:test" {
			t.Fatalf("audit record %+v, want source hub, actor hub:test", rec)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("camctl audit did not return")
	}

	// camctl audit with a node's certificate reads nothing: the ACL lets a
	// node read only its own command topic.
	cert, key := filepath.Join(p.dir, "exam-2.crt"), filepath.Join(p.dir, "exam-2.key")
	spy := make(chan string, 1)
	go func() {
		out, _ := camctl(t.Context(), "audit", "-broker", url, "-ca", p.caFile(), "-cert", cert, "-key", key,
			"-n", "1", "-timeout", "4s", "lobby-1")
		spy <- out
	}()
	time.Sleep(time.Second) // let it subscribe; a miss only weakens this check
	if _, err := run("privacy", "-timeout", "15s", "lobby-1", "off"); err != nil {
		t.Fatal(err)
	}
	if out := <-spy; strings.TrimSpace(out) != "" {
		t.Fatalf("camctl audit with another node's certificate read lobby-1's audit trail:\n%s", out)
	}
}
