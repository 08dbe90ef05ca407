// SPDX-License-Identifier: Apache-2.0

//go:build integration

package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// TestCamctlExplainsErrors: against mosquitto with the shipped ACL (and a
// read-only "observer" identity), camctl says what is wrong: a broker
// certificate from another CA, its own certificate from another CA, a
// certificate that may read but not command, one that may read nothing.
func TestCamctlExplainsErrors(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{ExtraACL: []string{"user observer", "topic read camnode/#"}})
	nodeCert, nodeKey := p.Issue(t, "lobby-1", false)
	lobby := startNode(t, mqtt.ClientConfig{Brokers: []string{b.URL}, CAFile: p.CAFile(), CertFile: nodeCert, KeyFile: nodeKey}, "lobby-1", "reception")
	flags := func(ca, cert, key string) []string {
		return []string{"-broker", b.URL, "-ca", ca, "-cert", cert, "-key", key}
	}
	hubCert, hubKey := p.Issue(t, "hub", false)
	hub := flags(p.CAFile(), hubCert, hubKey)
	waitWatch(t, hub, "lobby-1", "online")

	other := mqtttest.NewPKI(t)
	foreignCert, foreignKey := other.Issue(t, "hub", false)
	obsCert, obsKey := p.Issue(t, "observer", false)
	techCert, techKey := p.Issue(t, "tech", false)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"broker from another CA", append([]string{"watch", "-once"}, flags(other.CAFile(), hubCert, hubKey)...),
			"broker certificate not signed by the CA in " + other.CAFile()},
		{"client certificate from another CA", append([]string{"watch", "-once"}, flags(p.CAFile(), foreignCert, foreignKey)...),
			"does not accept the client certificate in " + foreignCert},
		{"may read, not command", append(append([]string{"privacy"}, flags(p.CAFile(), obsCert, obsKey)...), "-timeout", "3s", "lobby-1", "off"),
			"your certificate may not be allowed to command this node (ACL"},
		{"may not read: privacy", append(append([]string{"privacy"}, flags(p.CAFile(), techCert, techKey)...), "-timeout", "3s", "lobby-1", "off"),
			"your certificate may not read or command this node (ACL)"},
		{"may not read: watch", append(append([]string{"watch"}, flags(p.CAFile(), techCert, techKey)...), "-once", "-settle", "500ms"),
			"your certificate may not read camnode/# (ACL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := camctl(t.Context(), tc.args...)
			if exitCode(err) == 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d, err %v, want %q\n%s", exitCode(err), err, tc.want, out)
			}
			t.Logf("camctl %s: %v", tc.args[0], err)
		})
	}
	if !lobby.Status().Privacy {
		t.Fatal("a command from a certificate without the right switched privacy off")
	}
}

// TestCamctlAuditAcks: camctl audit acknowledges each record it prints, and
// the node drops it from its outbox; with -no-ack it acknowledges nothing.
func TestCamctlAuditAcks(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	nodeCert, nodeKey := p.Issue(t, "lobby-1", false)
	lobby, ob := startNodeOutbox(t, mqtt.ClientConfig{Brokers: []string{b.URL}, CAFile: p.CAFile(), CertFile: nodeCert, KeyFile: nodeKey}, "lobby-1", "reception")
	hubCert, hubKey := p.Issue(t, "hub", false)
	hub := []string{"-broker", b.URL, "-ca", p.CAFile(), "-cert", hubCert, "-key", hubKey}
	waitWatch(t, hub, "lobby-1", "online")

	pending := func(id string) bool {
		return slices.ContainsFunc(ob.Pending(mqtt.DefaultOutboxRecords), func(r agent.AuditRecord) bool { return r.ID == id })
	}
	for i, noAck := range []bool{true, false} {
		client := []string{"camctl-ack", "camctl-noack"}[boolIndex(noAck)]
		args := append(append([]string{"audit"}, hub...), "-client-id", client, "-n", "1", "-json", "-timeout", "30s")
		if noAck {
			args = append(args, "-no-ack")
		}
		got := make(chan string, 1)
		go func() {
			out, err := camctl(t.Context(), append(args, "lobby-1")...)
			if err != nil {
				out += "ERR " + err.Error()
			}
			got <- out
		}()
		b.WaitLog(t, 10*time.Second, "Received SUBSCRIBE from "+client)
		if _, err := lobby.SetPrivacy(t.Context(), i%2 == 1, agent.SourceLocal, "tech"); err != nil {
			t.Fatal(err)
		}
		out := <-got
		rec, err := mqtt.ParseAuditRecord([]byte(strings.TrimSpace(out)))
		if err != nil {
			t.Fatalf("camctl audit printed %q: %v", out, err)
		}
		if noAck {
			if strings.Contains(readFile(t, b.LogFile), "Received PUBLISH from "+client) {
				t.Fatalf("camctl audit -no-ack acknowledged")
			}
			if !pending(rec.ID) {
				t.Fatalf("record %s left the outbox without an acknowledgement", rec.ID)
			}
			continue
		}
		deadline := time.Now().Add(20 * time.Second)
		for pending(rec.ID) {
			if time.Now().After(deadline) {
				t.Fatalf("record %s still in the outbox after camctl audit acknowledged it", rec.ID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
