// SPDX-License-Identifier: Apache-2.0

//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
	"github.com/camnode/camnode/firmware"
)

// TestCheckBrokerMosquitto: camnode check's broker check against a real
// mosquitto with TLS client certificates and the shipped ACL. It is PASS
// only when the broker accepts the node's CONNECT (and its ACL lets the
// certificate act as the node); otherwise it reports the broker's answer.
func TestCheckBrokerMosquitto(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	const node = "ward3-corridor-01"
	id := firmware.Identity{NodeID: node, Brokers: []string{b.URL}}
	timeout := 10 * time.Second

	// provisioned writes ca.pem, node.pem and node.key beside the identity,
	// as camctl provision does, and returns a config whose [mqtt] names no
	// broker: the brokers come from the signed identity.
	provisioned := func(t *testing.T, cert, key string) config.Config {
		dir := t.TempDir()
		for name, src := range map[string]string{"ca.pem": p.CAFile(), "node.pem": cert, "node.key": key} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg := sampleConfig(t)
		cfg.Node.IdentityFile = filepath.Join(dir, "identity.json")
		return cfg
	}
	withMQTT := func(t *testing.T, brokers []string, ca, cert, key string) config.Config {
		cfg := sampleConfig(t)
		cfg.MQTT.Brokers, cfg.MQTT.CAFile, cfg.MQTT.CertFile, cfg.MQTT.KeyFile = brokers, ca, cert, key
		return cfg
	}
	expect := func(t *testing.T, r []checkResult, status string, details ...string) {
		t.Helper()
		if len(r) != 1 || r[0].Status != status {
			t.Fatalf("%+v, want one %s", r, status)
		}
		for _, d := range details {
			if !strings.Contains(r[0].Detail, d) {
				t.Errorf("%+v: no %q", r[0], d)
			}
		}
		if strings.Contains(r[0].Detail, "will not report to a hub") {
			t.Errorf("%+v: brokers are configured", r[0])
		}
		t.Logf("%s %s", r[0].Status, r[0].Detail)
	}

	cert, key := p.Issue(t, node, false)
	t.Run("accepted, brokers from the identity", func(t *testing.T) {
		expect(t, checkMQTT(t.Context(), provisioned(t, cert, key), id, nil, timeout), checkPass,
			"CONNECT accepted (CONNACK 0)", "SUBSCRIBE camnode/"+node+"/cmd/privacy accepted")
	})
	t.Run("accepted, [mqtt] section", func(t *testing.T) {
		expect(t, checkMQTT(t.Context(), withMQTT(t, []string{b.URL}, p.CAFile(), cert, key), firmware.Identity{NodeID: node}, nil, timeout),
			checkPass, "CONNECT accepted")
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		other := mqtttest.NewPKI(t)
		oc, ok := other.Issue(t, node, false)
		expect(t, checkMQTT(t.Context(), withMQTT(t, []string{b.URL}, p.CAFile(), oc, ok), id, nil, timeout),
			checkFail, "TLS: the broker refused the node certificate", "unknown certificate authority")
	})
	t.Run("broker certificate from another CA", func(t *testing.T) {
		other := mqtttest.NewPKI(t)
		expect(t, checkMQTT(t.Context(), withMQTT(t, []string{b.URL}, other.CAFile(), cert, key), id, nil, timeout),
			checkFail, "TLS: the broker's certificate does not verify")
	})
	t.Run("CN not allowed as this node", func(t *testing.T) {
		ic, ik := p.Issue(t, "lobby-1", false)
		expect(t, checkMQTT(t.Context(), provisioned(t, ic, ik), id, nil, timeout),
			checkFail, "CONNECT accepted (CONNACK 0), but the certificate's CN is \"lobby-1\", not the node id \""+node+"\"")
	})
	t.Run("CONNECT refused", func(t *testing.T) {
		// A broker that takes only client ids it knows refuses the CONNECT
		// (mosquitto 2 answers "not authorised").
		strict := mqtttest.StartMosquitto(t, p, mqtttest.Options{Config: []string{"clientid_prefixes hub-only-"}})
		expect(t, checkMQTT(t.Context(), withMQTT(t, []string{strict.URL}, p.CAFile(), cert, key), id, nil, timeout),
			checkFail, "the broker refused the CONNECT: CONNACK 5 (Connection Refused: Not Authorised)")
	})
	t.Run("nothing listening", func(t *testing.T) {
		gone := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
		gone.Stop()
		expect(t, checkMQTT(t.Context(), withMQTT(t, []string{gone.URL}, p.CAFile(), cert, key), id, nil, timeout),
			checkFail, "unreachable", "connection refused")
	})
}
