// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// TestMosquittoDeadBrokerDetection: how long a node's Link (keepalive 2 s,
// so ping timeout 2 s) takes to notice that the broker is gone, when the
// broker hangs (SIGSTOP: the kernel keeps the TCP connection open, only
// the missing PINGRESP tells) and when it is killed (the kernel closes the
// connection). Asserted: the bound 1.5 x keepalive + ping timeout
// (5 s; paho pings after a keepalive of silence, checked every keepalive/4,
// and gives up a ping timeout later, checked at the same cadence), plus
// 0.5 s of scheduling slack for a shared machine. The figures are logged.
func TestMosquittoDeadBrokerDetection(t *testing.T) {
	const ka = 2 * time.Second
	pingTimeout := min(ka, 5*time.Second) // as ClientConfig.Options
	bound := ka*3/2 + pingTimeout
	const slack = 500 * time.Millisecond

	p := mqtttest.NewPKI(t)
	br := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	cc := tlsClient(t, p, br, "node-d")
	cc.Keepalive = ka
	ev := newLogEvents()
	l, err := NewLink(Config{Client: cc, Node: "node-d", Logger: slog.New(ev)}, newFakeNode("node-d"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() {
		br.Resume() // never leave it stopped
		cancel()
		<-done
	})
	ev.next(t, "mqtt: connected", 15*time.Second)

	// idle lets the connect's publishes finish, then waits a random part
	// of a keepalive so the failure falls at a random point of the ping
	// cycle.
	idle := func() {
		time.Sleep(ka/2 + rand.N(ka))
		ev.drain()
	}
	var hung, killed []time.Duration
	for range 3 {
		idle()
		stopped := time.Now()
		br.Pause()
		lost := ev.next(t, "mqtt: connection lost", bound+10*time.Second)
		br.Resume()
		d := lost.Sub(stopped)
		hung = append(hung, d)
		if d > bound+slack {
			t.Errorf("hung broker noticed after %v, want <= %v (1.5 x keepalive + ping timeout) + %v", d, bound, slack)
		}
		ev.next(t, "mqtt: connected", 30*time.Second)
	}
	for range 3 {
		idle()
		stopped := time.Now()
		br.Kill()
		lost := ev.next(t, "mqtt: connection lost", bound+10*time.Second)
		d := lost.Sub(stopped)
		killed = append(killed, d)
		if d > bound+slack {
			t.Errorf("killed broker noticed after %v, want <= %v", d, bound+slack)
		}
		br.Start()
		ev.next(t, "mqtt: connected", 30*time.Second)
	}
	t.Logf("keepalive %v, ping timeout %v: broker SIGSTOPped -> link lost after %v; broker SIGKILLed -> %v", ka, pingTimeout, hung, killed)
}

// TestMosquittoHungNodeWill: a real camnode process (keepalive 2 s) is
// SIGSTOPped, so its TCP connection stays open and only the broker's
// keepalive check can find it out; the hub must then see the will
// "offline". mosquitto 2.0.x does not check at 1.5 x keepalive exactly:
// its keepalive sweep (src/keepalive.c) runs only when more than 5 whole
// seconds have passed since the previous sweep (so about every 6 s) and
// drops a client when now - last packet > keepalive*3/2 in whole seconds.
// For keepalive 2 s that is 4-10 s after the node's last packet (which is
// at most a keepalive before the stop, since the node pings when idle).
// Asserted: the broker's real bound, 1.5 x keepalive + 1 s (whole-second
// rounding) + 6 s (sweep period) + 1.5 s slack = 11.5 s, well above the
// 1.5 x keepalive = 3 s a reader of the MQTT spec would expect. The
// figures are logged; the node is resumed (SIGCONT) between trials and
// must come back "online".
func TestMosquittoHungNodeWill(t *testing.T) {
	const ka = 2 * time.Second
	const sweep = 6 * time.Second
	bound := ka*3/2 + time.Second + sweep + 1500*time.Millisecond

	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(t, p, b, "node-h"), tlsClient(t, p, b, "hub")
	node := startCamnode(t, "node-h", ccN, ka)

	topics := NodeTopics("camnode", "node-h")
	w := newWatcher(t, ccHub, topics.Availability, topics.Status)
	online := func() bool { return w.get(topics.Availability) == "online" }
	w.wait(t, 20*time.Second, "camnode online", func() bool {
		_, ok := w.status(topics)
		return ok && online()
	})
	var took []time.Duration
	for range 3 {
		time.Sleep(ka/2 + rand.N(ka)) // a random point of the node's ping cycle
		stopped := time.Now()
		if err := node.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		w.wait(t, bound+5*time.Second, "will offline", func() bool { return w.get(topics.Availability) == "offline" })
		d := time.Since(stopped)
		took = append(took, d)
		node.Signal(syscall.SIGCONT)
		if d > bound {
			t.Errorf("will offline %v after SIGSTOP, want <= %v", d, bound)
		}
		w.wait(t, 20*time.Second, "camnode back online after SIGCONT", online)
	}
	t.Logf("keepalive %v: SIGSTOPped camnode -> will offline at the hub after %v (3.5 x keepalive would be %v)", ka, took, ka*7/2)
}
