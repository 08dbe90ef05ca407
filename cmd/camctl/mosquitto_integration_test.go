// SPDX-License-Identifier: Apache-2.0

//go:build integration

// camctl against a real mosquitto (scripts/mosquitto-env): TLS with client
// certificates, the shipped ACL (firmware/mosquitto/acl.template).
package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// TestCamctlMosquitto: camctl watch, privacy and audit with the hub's
// certificate against mosquitto with the shipped ACL; camctl privacy with
// a node's certificate is not accepted (the ACL drops the command).
func TestCamctlMosquitto(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	flags := func(cert, key string) []string { // camctl's, for b with cert
		return []string{"-broker", b.URL, "-ca", p.CAFile(), "-cert", cert, "-key", key}
	}
	own := map[string][]string{} // node -> flags with the node's own certificate
	tlsNode := func(id, zone string) *agent.Agent {
		cert, key := p.Issue(t, id, false)
		own[id] = flags(cert, key)
		return startNode(t, mqtt.ClientConfig{Brokers: []string{b.URL}, CAFile: p.CAFile(), CertFile: cert, KeyFile: key}, id, zone)
	}
	lobby := tlsNode("lobby-1", "reception")
	exam := tlsNode("exam-2", "examination")
	hub := flags(p.Issue(t, "hub", false))
	run := func(args ...string) (string, error) {
		return camctl(t.Context(), append(append([]string{args[0]}, hub...), args[1:]...)...)
	}

	out := waitWatch(t, hub, "lobby-1", "online", "reception", " on ")
	out = waitWatch(t, hub, "exam-2", "online", "examination (locked)")
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
	waitWatch(t, hub, "lobby-1", "online", " off ")

	out, err = run("privacy", "-timeout", "15s", "exam-2", "off")
	if exitCode(err) != 3 || !strings.Contains(out, "refused") || !strings.Contains(err.Error(), "examination") || !exam.Status().Privacy {
		t.Fatalf("privacy off in an exam room: exit %d %v\n%s", exitCode(err), err, out)
	}

	// A node's certificate (its own, or another node's) cannot command:
	// mosquitto acknowledges the PUBLISH but the ACL drops it, so no node
	// executes it and camctl times out (exit 1), never "accepted".
	for _, who := range []string{"lobby-1", "exam-2"} {
		out, err := camctl(t.Context(), append(append([]string{"privacy"}, own[who]...),
			"-timeout", "3s", "-actor", "rogue", "lobby-1", "on")...)
		if exitCode(err) != 1 || strings.Contains(out, "accepted") {
			t.Fatalf("privacy with %s's certificate: exit %d %v\n%s", who, exitCode(err), err, out)
		}
		if lobby.Status().Privacy {
			t.Fatalf("a command sent with %s's certificate switched lobby-1's privacy on", who)
		}
		t.Logf("camctl privacy with %s's certificate: exit %d: %v", who, exitCode(err), err)
	}
	// And it was the ACL that stopped them (log_type all logs denials).
	log, _ := os.ReadFile(b.LogFile)
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
	spy := make(chan string, 1)
	go func() {
		out, _ := camctl(t.Context(), append(append([]string{"audit"}, own["exam-2"]...),
			"-client-id", "spy-exam-2", "-n", "1", "-timeout", "8s", "lobby-1")...)
		spy <- out
	}()
	// The broker has handled its SUBSCRIBE before the audit record exists.
	b.WaitLog(t, 10*time.Second, "Received SUBSCRIBE from spy-exam-2")
	if _, err := run("privacy", "-timeout", "15s", "lobby-1", "off"); err != nil {
		t.Fatal(err)
	}
	if out := <-spy; strings.TrimSpace(out) != "" {
		t.Fatalf("camctl audit with another node's certificate read lobby-1's audit trail:\n%s", out)
	}
}
