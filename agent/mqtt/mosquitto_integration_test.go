// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
	"github.com/camnode/camnode/firmware"
)

// tlsClient issues a client certificate with common name cn (the node id,
// or the hub's "hub") from p and returns a configuration for the broker b
// with it, the client id cn.
func tlsClient(t testing.TB, p *mqtttest.PKI, b *mqtttest.Broker, cn string) ClientConfig {
	t.Helper()
	cert, key := p.Issue(t, cn, false)
	return ClientConfig{Brokers: []string{b.URL}, CAFile: p.CAFile(), CertFile: cert, KeyFile: key, ClientID: cn}
}

// TestMosquittoRetainedACLAndCommands: two nodes over TLS with client
// certificates; a late subscriber sees retained state; node A cannot
// publish into node B's topics; every command case gets a result.
func TestMosquittoRetainedACLAndCommands(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccA, ccB, ccHub := tlsClient(t, p, b, "node-a"), tlsClient(t, p, b, "node-b"), tlsClient(t, p, b, "hub")
	ta := startAgent(t, "node-a", "reception", t.TempDir())
	tb := startAgent(t, "node-b", "reception", t.TempDir())
	now := cmdNow
	startLink(t, ta, Config{Client: ccA, Node: "node-a", Now: func() time.Time { return now }})
	startLink(t, tb, Config{Client: ccB, Node: "node-b", HADiscovery: true})
	tA, tB := NodeTopics("camnode", "node-a"), NodeTopics("camnode", "node-b")

	// Wait for both to be up (a first hub connection), then a late one.
	first := newWatcher(t, ccHub, "camnode/+/availability")
	first.wait(t, 15*time.Second, "both online", func() bool {
		return first.get(tA.Availability) == "online" && first.get(tB.Availability) == "online"
	})
	first.c.Disconnect(100)
	hub := ccHub
	hub.ClientID = "hub-late"
	w := newWatcher(t, hub, "camnode/#", "homeassistant/#")
	w.wait(t, 10*time.Second, "retained status, privacy, availability, discovery", func() bool {
		_, ok := w.status(tB)
		return ok && w.get(tB.Privacy) == "on" && w.get(tB.Availability) == "online" &&
			w.get("homeassistant/switch/node-b/privacy/config") != ""
	})

	// Node A, with its own certificate, tries to forge B's topics and to
	// command B, then publishes a sentinel on its own topic. mosquitto
	// delivers one client's messages in order: once the sentinel is in,
	// the forgeries would have been too.
	rogueCfg := ccA
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
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(t, p, b, "node-r"), tlsClient(t, p, b, "hub")
	ta := startAgent(t, "node-r", "reception", t.TempDir())
	startLink(t, ta, Config{Client: ccN, Node: "node-r", AuditResendMin: 500 * time.Millisecond})
	topics := NodeTopics("camnode", "node-r")
	// The hub keeps a persistent session, so the broker queues audit
	// records for it across its own restart (persistence true).
	w := newWatcherOpts(t, ccHub, func(o *paho.ClientOptions) { o.SetCleanSession(false) }, "camnode/node-r/#").ackAudit()
	w.wait(t, 15*time.Second, "online", func() bool { return w.get(topics.Availability) == "online" })

	b.Stop()
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
	b.Start()
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
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(t, p, b, "node-k"), tlsClient(t, p, b, "hub")
	node := startCamnode(t, "node-k", ccN, 2*time.Second)

	topics := NodeTopics("camnode", "node-k")
	w := newWatcher(t, ccHub, topics.Availability, topics.Status)
	w.wait(t, 20*time.Second, "camnode online", func() bool {
		_, ok := w.status(topics)
		return ok && w.get(topics.Availability) == "online"
	})
	killed := time.Now()
	node.Signal(syscall.SIGKILL)
	w.wait(t, 3*time.Second, "will offline within 1.5x keepalive (3 s)", func() bool { return w.get(topics.Availability) == "offline" })
	t.Logf("will seen %v after SIGKILL", time.Since(killed))
}

// startCamnode builds cmd/camnode and runs it as node, linked with cc
// (cc.Brokers[0]) and keepalive, until the test ends.
func startCamnode(t testing.TB, node string, cc ClientConfig, keepalive time.Duration) *os.Process {
	t.Helper()
	p, _ := startCamnodeExit(t, node, cc, keepalive)
	return p
}

// startCamnodeExit is startCamnode that also returns a channel closed when
// the process has exited.
func startCamnodeExit(t testing.TB, node string, cc ClientConfig, keepalive time.Duration) (*os.Process, <-chan struct{}) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "camnode")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/camnode").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "-config", writeNodeConfig(t, dir, node, cc, keepalive))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	return cmd.Process, exited
}

// writeNodeConfig provisions a node in dir (identity, keys) and writes a
// camnode.toml pointing at the broker cc.Brokers[0] with cc's certificate.
func writeNodeConfig(t testing.TB, dir, node string, cc ClientConfig, keepalive time.Duration) string {
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
		filepath.Join(dir, "c.sock"), cc.Brokers[0], cc.CAFile, cc.CertFile, cc.KeyFile, keepalive.String())
	path := filepath.Join(dir, "camnode.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
