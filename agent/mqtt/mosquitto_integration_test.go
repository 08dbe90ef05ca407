// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
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

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

const mosquittoBin = "/usr/sbin/mosquitto"

// pki is a throwaway CA with a server certificate and client certificates.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "camnode test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.write(t, "ca.crt", "CERTIFICATE", der)
	p.issue(t, "server", true)
	return p
}

func (p *pki) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var serial int64 = 10

// issue makes name.crt/name.key with CN name.
func (p *pki) issue(t testing.TB, name string, server bool) ClientConfig {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return ClientConfig{CAFile: filepath.Join(p.dir, "ca.crt"), CertFile: p.write(t, name+".crt", "CERTIFICATE", der),
		KeyFile: p.write(t, name+".key", "PRIVATE KEY", kder), ClientID: name}
}

// broker is one mosquitto process with the shipped ACL.
type broker struct {
	t    testing.TB
	dir  string
	port int
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startMosquitto(t testing.TB, p *pki) *broker {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		t.Fatalf("mosquitto is not installed (%v): run scripts/mosquitto-env", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b := &broker{t: t, dir: t.TempDir(), port: port, url: fmt.Sprintf("ssl://127.0.0.1:%d", port)}
	tmpl, err := os.ReadFile("../../firmware/mosquitto/acl.template")
	if err != nil {
		t.Fatal(err)
	}
	acl := strings.ReplaceAll(string(tmpl), "HUB_CN", "hub")
	if err := os.WriteFile(filepath.Join(b.dir, "acl"), []byte(acl), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`user root
persistence true
persistence_location %[1]s/
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
`, b.dir, port, p.dir)
	if err := os.WriteFile(filepath.Join(b.dir, "mosquitto.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	b.t.Helper()
	b.cmd = exec.Command(mosquittoBin, "-c", filepath.Join(b.dir, "mosquitto.conf"))
	b.cmd.Stderr = os.Stderr
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(b.cmd, b.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-b.done:
			log, _ := os.ReadFile(filepath.Join(b.dir, "mosquitto.log"))
			b.t.Fatalf("mosquitto exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto not listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port, not an assertion
	}
}

func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
}

func tlsClient(cc ClientConfig, url string) ClientConfig {
	cc.Brokers = []string{url}
	return cc
}

// TestMosquittoRetainedACLAndCommands: two nodes over TLS with client
// certificates; a late subscriber sees retained state; node A cannot
// publish into node B's topics; every command case gets a result.
func TestMosquittoRetainedACLAndCommands(t *testing.T) {
	p := newPKI(t)
	b := startMosquitto(t, p)
	ccA, ccB, ccHub := p.issue(t, "node-a", false), p.issue(t, "node-b", false), p.issue(t, "hub", false)
	ta := startAgent(t, "node-a", "reception", t.TempDir())
	tb := startAgent(t, "node-b", "reception", t.TempDir())
	now := cmdNow
	startLink(t, ta, Config{Client: tlsClient(ccA, b.url), Node: "node-a", Now: func() time.Time { return now }})
	startLink(t, tb, Config{Client: tlsClient(ccB, b.url), Node: "node-b", HADiscovery: true})
	tA, tB := NodeTopics("camnode", "node-a"), NodeTopics("camnode", "node-b")

	// Wait for both to be up (a first hub connection), then a late one.
	first := newWatcher(t, tlsClient(ccHub, b.url), "camnode/+/availability")
	first.wait(t, 15*time.Second, "both online", func() bool {
		return first.get(tA.Availability) == "online" && first.get(tB.Availability) == "online"
	})
	first.c.Disconnect(100)
	hub := ccHub
	hub.ClientID = "hub-late"
	w := newWatcher(t, tlsClient(hub, b.url), "camnode/#", "homeassistant/#")
	w.wait(t, 10*time.Second, "retained status, privacy, availability, discovery", func() bool {
		_, ok := w.status(tB)
		return ok && w.get(tB.Privacy) == "on" && w.get(tB.Availability) == "online" &&
			w.get("homeassistant/switch/node-b/privacy/config") != ""
	})

	// Node A, with its own certificate, tries to forge B's topics and to
	// command B, then publishes a sentinel on its own topic. mosquitto
	// delivers one client's messages in order: once the sentinel is in,
	// the forgeries would have been too.
	rogueCfg := tlsClient(ccA, b.url)
	rogueCfg.ClientID = "node-a-rogue"
	rogue := newWatcher(t, rogueCfg)
	forged := []string{tB.Status, tB.Privacy, tB.Availability, tB.Audit, tB.Result, tB.Command, tA.Command, "homeassistant/switch/node-b/privacy/config"}
	for _, topic := range forged {
		payload := []byte("forged")
		if strings.HasSuffix(topic, "cmd/privacy") {
			payload = cmdPayload("forged", "off", time.Now())
		}
		rogue.c.Publish(topic, 1, true, payload).WaitTimeout(5 * time.Second)
	}
	rogue.publish(t, tA.Status, false, []byte("sentinel"))
	w.wait(t, 10*time.Second, "sentinel", func() bool { return w.get(tA.Status) == "sentinel" })
	for _, topic := range forged {
		for _, m := range w.msgs(topic) {
			if strings.Contains(string(m), "forged") {
				t.Errorf("ACL let node-a publish %q on %s", m, topic)
			}
		}
	}
	if !tb.Status().Privacy || !ta.Status().Privacy {
		t.Fatal("a forged command changed privacy")
	}

	// Every command case (and the fuzz seeds) through the real broker:
	// each gets a result; errors change nothing.
	for _, tc := range commandCases {
		before := ta.Status().Privacy
		nres := len(w.msgs(tA.Result))
		w.publish(t, tA.Command, false, []byte(tc.payload))
		var r Result
		w.wait(t, 15*time.Second, "result for "+tc.name, func() bool {
			rs := w.msgs(tA.Result)
			if len(rs) <= nres {
				return false
			}
			r = mustResult(t, rs[nres])
			return true
		})
		if tc.wantErr != "" && (r.Result != ResultError || ta.Status().Privacy != before) {
			t.Fatalf("%s: %+v", tc.name, r)
		}
		if tc.wantErr == "" && r.Result != ResultAccepted {
			t.Fatalf("%s: %+v", tc.name, r)
		}
	}
}

// TestMosquittoBrokerRestart: privacy toggled while the broker is down;
// after it comes back the retained state converges and every audit record
// reaches the hub exactly by id.
func TestMosquittoBrokerRestart(t *testing.T) {
	p := newPKI(t)
	b := startMosquitto(t, p)
	ccN, ccHub := p.issue(t, "node-r", false), p.issue(t, "hub", false)
	ta := startAgent(t, "node-r", "reception", t.TempDir())
	startLink(t, ta, Config{Client: tlsClient(ccN, b.url), Node: "node-r"})
	topics := NodeTopics("camnode", "node-r")
	// The hub keeps a persistent session, so the broker queues audit
	// records for it across its own restart (persistence true).
	w := newWatcherOpts(t, tlsClient(ccHub, b.url), func(o *paho.ClientOptions) { o.SetCleanSession(false) }, "camnode/node-r/#")
	w.wait(t, 15*time.Second, "online", func() bool { return w.get(topics.Availability) == "online" })

	b.stop()
	ctx := t.Context()
	for i, on := range []bool{false, true, false, true, false} {
		if _, err := ta.SetPrivacy(ctx, on, agent.SourceLocal, fmt.Sprintf("tech-%d", i)); err != nil {
			t.Fatalf("SetPrivacy while the broker is down: %v", err)
		}
	}
	if ta.outbox.Stats().Pending == 0 {
		t.Fatal("nothing queued while the broker was down")
	}
	restart := time.Now()
	b.start()
	w.wait(t, 60*time.Second, "convergence", func() bool {
		st, ok := w.status(topics)
		if !ok || st.Privacy || w.get(topics.Privacy) != "off" || ta.outbox.Stats().Pending != 0 {
			return false
		}
		seen := auditIDs(w, topics)
		for _, id := range ta.audit.IDs() {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	t.Logf("converged %v after the broker restarted; %d audit records, all delivered", time.Since(restart), len(ta.audit.IDs()))
}

// TestMosquittoKill9Will: a real camnode process linked over TLS is killed
// with SIGKILL; the hub sees its will "offline" within 1.5x keepalive.
func TestMosquittoKill9Will(t *testing.T) {
	p := newPKI(t)
	b := startMosquitto(t, p)
	ccN, ccHub := p.issue(t, "node-k", false), p.issue(t, "hub", false)
	dir := t.TempDir()
	bin := filepath.Join(dir, "camnode")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/camnode").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgPath := writeNodeConfig(t, dir, "node-k", ccN, b.url, 2*time.Second)
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })

	topics := NodeTopics("camnode", "node-k")
	w := newWatcher(t, tlsClient(ccHub, b.url), topics.Availability, topics.Status)
	w.wait(t, 20*time.Second, "camnode online", func() bool {
		_, ok := w.status(topics)
		return ok && w.get(topics.Availability) == "online"
	})
	killed := time.Now()
	cmd.Process.Signal(syscall.SIGKILL)
	w.wait(t, 3*time.Second, "will offline within 1.5x keepalive (3 s)", func() bool { return w.get(topics.Availability) == "offline" })
	t.Logf("will seen %v after SIGKILL", time.Since(killed))
}

// writeNodeConfig provisions a node in dir (identity, keys) and writes a
// camnode.toml pointing at the broker.
func writeNodeConfig(t testing.TB, dir, node string, cc ClientConfig, url string, keepalive time.Duration) string {
	t.Helper()
	pub, priv, _ := ed25519Key()
	id := firmware.Identity{NodeID: node, Site: "Test", Room: "Lobby", ZoneClass: "reception",
		InitialPrivacy: "on", Installer: "test", IssuedAt: time.Now().UTC()}
	signed, err := firmware.SignIdentity(id, priv)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "identity.json"), signed, 0o644)
	os.WriteFile(filepath.Join(dir, "keys.pub"), []byte(firmware.FormatKey(pub, "test")), 0o644)
	conf := fmt.Sprintf(`[node]
identity_file = %q
installer_keys_file = %q
state_dir = %q
control_socket = %q

[camera]
source = "synthetic"
width = 64
height = 48
fps = 10
formats = ["I420"]

[gpio]
simulate = true

[mqtt]
brokers = [%q]
ca_file = %q
cert_file = %q
key_file = %q
keepalive = %q
`, filepath.Join(dir, "identity.json"), filepath.Join(dir, "keys.pub"), filepath.Join(dir, "state"),
		filepath.Join(dir, "c.sock"), url, cc.CAFile, cc.CertFile, cc.KeyFile, keepalive.String())
	path := filepath.Join(dir, "camnode.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
