// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

func TestMQTTFromIdentity(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "node.pem", "node.key"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
	}
	base := config.Default()
	base.GPIO.Simulate = true
	base.Node.IdentityFile = filepath.Join(dir, "identity.json")
	id := firmware.Identity{Brokers: []string{"ssl://hub.example:8883"}}

	m, err := mqttFromIdentity(base, id, nil)
	if err != nil || len(m.Brokers) != 1 || m.CAFile != filepath.Join(dir, "ca.pem") ||
		m.CertFile != filepath.Join(dir, "node.pem") || m.KeyFile != filepath.Join(dir, "node.key") {
		t.Fatalf("from identity: %+v, %v", m, err)
	}

	explicit := base
	explicit.MQTT.Brokers = []string{"ssl://other:8883"}
	if m, _ := mqttFromIdentity(explicit, id, nil); m.Brokers[0] != "ssl://other:8883" {
		t.Fatalf("explicit [mqtt] overridden: %+v", m)
	}
	if m, _ := mqttFromIdentity(base, id, errors.New("bad signature")); m.Enabled() {
		t.Fatal("brokers taken from an unverified identity")
	}
	plain := firmware.Identity{Brokers: []string{"tcp://hub.example:1883"}}
	if _, err := mqttFromIdentity(base, plain, nil); err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Fatalf("plaintext broker from identity = %v, want refused", err)
	}
}
