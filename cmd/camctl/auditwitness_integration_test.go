// SPDX-License-Identifier: Apache-2.0

//go:build integration

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// TestCamctlAuditWitness: camctl audit verifies the node's chain as the
// records arrive and acknowledges with the head it verified; the node keeps
// that head (status: audit_outbox.witnessed), and camctl keeps it in
// -witness-file across runs. Through mosquitto with the shipped ACL.
func TestCamctlAuditWitness(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	cert, key := p.Issue(t, "lobby-1", false)
	lobby, ob, chain := startNodeChain(t, mqtt.ClientConfig{Brokers: []string{b.URL}, CAFile: p.CAFile(), CertFile: cert, KeyFile: key}, "lobby-1", "reception")
	hubCert, hubKey := p.Issue(t, "hub", false)
	hub := []string{"-broker", b.URL, "-ca", p.CAFile(), "-cert", hubCert, "-key", hubKey}
	wfile := filepath.Join(t.TempDir(), "witness.json")
	// -session: the broker keeps what is published before camctl subscribes.
	audit := func(n int) (string, error) {
		args := append(append([]string{"audit"}, hub...), "-session", "w", "-witness-file", wfile, "-json", "-n", itoa(n), "-timeout", "30s", "lobby-1")
		return camctl(t.Context(), args...)
	}
	waitWatch(t, hub, "lobby-1", "online", "reception", " on ")
	// Register the persistent session (subscription) before the records
	// exist, so the broker queues them for it: otherwise they reach camctl
	// only in the node's next resend round (30 s), a race with -timeout.
	if out, err := camctl(t.Context(), append(append([]string{"audit"}, hub...), "-session", "w", "-n", "0", "-timeout", "1s", "lobby-1")...); err != nil {
		t.Fatalf("camctl audit (registering the session): %v\n%s", err, out)
	}
	for _, mode := range []string{"off", "on"} {
		if out, err := camctl(t.Context(), append(append([]string{"privacy"}, hub...), "-timeout", "15s", "-actor", "hub:test", "lobby-1", mode)...); err != nil {
			t.Fatalf("privacy %s: %v\n%s", mode, err, out)
		}
	}
	_ = lobby
	// Everything the node wrote so far; camctl takes it all (the first
	// record starts the witnessed chain: trust on first use).
	want := chain.Head()
	out, err := audit(int(want.Seq))
	if err != nil || strings.Contains(out, "CHAIN") {
		t.Fatalf("camctl audit: %v\n%s", err, out)
	}
	// The node learns the head from the acks.
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := ob.Stats().Witnessed
		if w != nil && *w == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node's witnessed head %+v, want %+v", w, want)
		}
		select {
		case <-ob.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
	var saved agent.ChainHead
	if data, _ := os.ReadFile(wfile); json.Unmarshal(data, &saved) != nil || saved != want {
		t.Fatalf("-witness-file holds %+v, want %+v", saved, want)
	}
	// Its -json output is the chain as the node wrote it.
	var lines []string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "{") {
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
	}
	if len(lines) == 0 || agent.LineHash([]byte(lines[len(lines)-1])) != want.Hash {
		t.Fatalf("camctl audit -json output does not end with the chain head:\n%s", out)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
