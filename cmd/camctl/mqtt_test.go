// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// startNode runs an agent (simulated GPIO, synthetic camera) linked to the
// broker with cc, until the test ends.
func startNode(t *testing.T, cc mqtt.ClientConfig, node, zone string) *agent.Agent {
	t.Helper()
	a, _ := startNodeOutbox(t, cc, node, zone)
	return a
}

// startNodeOutbox is startNode that also returns the node's audit outbox.
func startNodeOutbox(t *testing.T, cc mqtt.ClientConfig, node, zone string) (*agent.Agent, *mqtt.Outbox) {
	t.Helper()
	a, ob, _ := startNodeChain(t, cc, node, zone)
	return a, ob
}

// startNodeChain is startNode that also returns the node's audit outbox
// and its audit chain, which forwards to the outbox as on a real node.
func startNodeChain(t *testing.T, cc mqtt.ClientConfig, node, zone string) (*agent.Agent, *mqtt.Outbox, *agent.FileAuditor) {
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
	chain, err := agent.OpenAuditChain(filepath.Join(dir, "audit.jsonl"), agent.ChainOptions{Node: node, Forward: ob})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		Identity: firmware.Identity{NodeID: node, Site: "Test", Room: "Room 1", ZoneClass: zone,
			InitialPrivacy: "on", Installer: "test", IssuedAt: time.Now()},
		StatePath: filepath.Join(dir, "privacy.json"),
	}, agent.Deps{LED: &gpiotest.LED{}, Shutter: &gpiotest.Shutter{}, Audit: chain, Camera: cam})
	if err != nil {
		t.Fatal(err)
	}
	l, err := mqtt.NewLink(mqtt.Config{Client: cc, Node: node, Outbox: ob}, a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	aDone, lDone := make(chan struct{}), make(chan struct{})
	go func() { a.Run(ctx); close(aDone) }()
	go func() { l.Run(ctx); close(lDone) }()
	t.Cleanup(func() { cancel(); <-aDone; <-lDone; chain.Close(); ob.Close() })
	return a, ob, chain
}

func camctl(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(ctx, args, strings.NewReader(""), &out, &errb)
	return out.String() + errb.String(), err
}

func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

// waitWatch runs `camctl watch -once` with flags (the broker and how to
// connect to it) until a line of its table contains all of want; it fails
// the test after 20 s.
func waitWatch(t *testing.T, flags []string, want ...string) string {
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

func TestCamctlEmbedded(t *testing.T) {
	if raceEnabled {
		t.Skip("mochi v2.7.9 races internally (see race_on_test.go); scripts/test runs this test without -race")
	}
	url, stop, err := mqtt.StartEmbeddedBroker(t.Context(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cc := mqtt.ClientConfig{Brokers: []string{url}, Insecure: true}
	startNode(t, cc, "lobby-1", "reception")
	startNode(t, cc, "exam-2", "examination")
	insecure := []string{"-broker", url, "-insecure"}

	waitWatch(t, insecure, "lobby-1", "online", "reception", " on ")
	waitWatch(t, insecure, "exam-2", "online", "examination (locked)")

	// Audit records published while `camctl audit` listens are printed.
	auditOut := make(chan string, 1)
	go func() {
		out, err := camctl(t.Context(), "audit", "-broker", url, "-insecure", "-n", "1", "-timeout", "20s", "lobby-1")
		if err != nil {
			out += "ERR " + err.Error()
		}
		auditOut <- out
	}()

	out, err := camctl(t.Context(), "privacy", "-broker", url, "-insecure", "-actor", "test", "lobby-1", "off")
	if exitCode(err) != 0 || !strings.Contains(out, "lobby-1: accepted") {
		t.Fatalf("privacy off: %v\n%s", err, out)
	}
	waitWatch(t, insecure, "lobby-1", " off ")

	out, err = camctl(t.Context(), "privacy", "-broker", url, "-insecure", "exam-2", "off")
	if exitCode(err) != 3 || !strings.Contains(out, "refused") || !strings.Contains(err.Error(), "examination") {
		t.Fatalf("privacy off in an exam room: exit %d %v\n%s", exitCode(err), err, out)
	}

	out, err = camctl(t.Context(), "privacy", "-broker", url, "-insecure", "-timeout", "500ms", "no-such-node", "on")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "no result") {
		t.Fatalf("absent node: exit %d %v\n%s", exitCode(err), err, out)
	}

	// The audit listener may have subscribed after the first change: make
	// another one so it has something to print either way.
	camctl(t.Context(), "privacy", "-broker", url, "-insecure", "lobby-1", "on")
	select {
	case out := <-auditOut:
		if !strings.Contains(out, "privacy") || !strings.Contains(out, "hub") || strings.Contains(out, "ERR") {
			t.Fatalf("audit printed:\n%s", out)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("camctl audit did not return")
	}
}

func TestCamctlMQTTUsage(t *testing.T) {
	for _, args := range [][]string{
		{"privacy", "-insecure", "n1", "on"},                    // no broker
		{"privacy", "-broker", "tcp://127.0.0.1:1", "n1", "on"}, // plaintext without -insecure
		{"privacy", "-broker", "tcp://127.0.0.1:1", "-insecure", "n1", "maybe"},
		{"privacy", "-broker", "tcp://127.0.0.1:1", "-insecure", "a/#", "on"},
		{"privacy", "-broker", "tcp://127.0.0.1:1", "-insecure", "n1"},
		{"audit", "-broker", "tcp://127.0.0.1:1", "-insecure"},
		{"audit", "-broker", "tcp://127.0.0.1:1", "-insecure", "-n", "-1", "n1"},
		{"watch", "-broker", "tcp://127.0.0.1:1", "-insecure", "extra"},
		{"watch", "-bogus"},
	} {
		if _, err := camctl(t.Context(), args...); exitCode(err) != 2 {
			t.Errorf("%q: exit %d (%v), want 2", args, exitCode(err), err)
		}
	}
	// An unreachable broker is an error, not a hang.
	if _, err := camctl(t.Context(), "watch", "-broker", "tcp://127.0.0.1:1", "-insecure", "-once"); exitCode(err) != 1 {
		t.Errorf("unreachable broker: %v", err)
	}
}
