// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// fleetNodes is the simulated fleet size: 500, or CAMNODE_FLEET_NODES.
func fleetNodes(b *testing.B) int {
	n := 500
	if s := os.Getenv("CAMNODE_FLEET_NODES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("CAMNODE_FLEET_NODES=%q", s)
		}
		n = v
	}
	return n
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)) * q)
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// BenchmarkMosquittoFleetRestart: a fleet of simulated nodes (each a real
// Link with its own TLS client certificate and the shipped ACL, serving a
// fakeNode; HA discovery on as shipped) and one hub subscriber to
// camnode/+/+ on one mosquitto. Each iteration restarts the broker
// (SIGTERM, start again) and waits until the hub's view has converged:
// every node online with a status built after the restart. Reported:
// per-node reconnect time (broker started -> the node's fresh status
// snapshot) p50/p99, hub convergence (broker started -> last node fresh at
// the hub), and the broker's CPU (utime+stime from /proc) from its start to
// convergence. Restarts are spaced by CAMNODE_FLEET_PAUSE (default 25 s,
// untimed). Run it with
//
//	go test -tags integration ./agent/mqtt -run XXX -bench FleetRestart -benchtime 3x -timeout 20m
func BenchmarkMosquittoFleetRestart(b *testing.B) {
	n := fleetNodes(b)
	p := mqtttest.NewPKI(b)
	// Logged are errors, warnings and notices (connects), not every packet
	// as by default, so the log does not dominate the broker's CPU.
	// mosquitto queues at most max_queued_messages (default 1000) QoS 1
	// messages per client beyond the 20 in flight and drops the rest
	// ("Outgoing messages are being dropped for client hub"): the hub's
	// camnode/+/+ subscription gets 3 messages per node (availability,
	// status, privacy) in a burst after a restart, so a 500-node fleet
	// needs more. CAMNODE_FLEET_MAX_QUEUED overrides the value used here
	// (1000 shows the loss).
	maxQueued := cmp.Or(os.Getenv("CAMNODE_FLEET_MAX_QUEUED"), "10000")
	br := mqtttest.StartMosquitto(b, p, mqtttest.Options{
		LogTypes: []string{"error", "warning", "notice"},
		Config:   []string{"max_queued_messages " + maxQueued},
	})
	hubCC := tlsClient(b, p, br, "hub")
	view := newFleetView(b, hubCC)

	ccs := make([]ClientConfig, n)
	for i := range ccs {
		ccs[i] = tlsClient(b, p, br, fmt.Sprintf("sim-%04d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() }) // runs before the broker's stop
	cpu0, self0, t0 := procCPU(b, br.PID()), selfCPU(), time.Now()
	view.reset(t0)
	for i, cc := range ccs {
		node := fmt.Sprintf("sim-%04d", i)
		l, err := NewLink(Config{Client: cc, Node: node, HADiscovery: true}, newFakeNode(node))
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { l.Run(ctx) })
	}
	if got := view.count(n, 2*time.Minute); got < n {
		b.Fatalf("hub view after the first connect: %d of %d nodes online with a status (max_queued_messages %s)", got, n, maxQueued)
	}
	b.Logf("%d nodes: first connect of all converged in %v; broker CPU %v, test process CPU %v",
		n, time.Since(t0).Round(time.Millisecond), procCPU(b, br.PID())-cpu0, (selfCPU() - self0).Round(time.Millisecond))

	// A late subscriber (camctl watch, a restarted hub) gets the fleet
	// from retained messages only: it must see every node too.
	late := hubCC
	late.ClientID = "hub-late"
	lt := time.Now()
	lateView := newFleetViewSince(b, late, time.Time{})
	if got := lateView.count(n, 30*time.Second); got < n {
		b.Fatalf("a late hub subscriber saw %d of %d nodes online with a status (max_queued_messages %s)", got, n, maxQueued)
	}
	b.Logf("late subscriber: all %d nodes from retained messages in %v", n, time.Since(lt).Round(time.Millisecond))
	lateView.c.Disconnect(100)

	// paho remembers failures: a connection lost again within 6 s + the
	// last back-off sleep of the previous loss, or a reconnect attempt
	// failing within 20 s + the last sleep of the previous failure, doubles
	// the sleep (1, 2, 4 ... 30 s). Iterations are spaced so each restart
	// meets a fleet that has been stable, as after a one-off broker
	// restart; CAMNODE_FLEET_PAUSE=0s shows back-to-back restarts.
	pause := 25 * time.Second
	if s := os.Getenv("CAMNODE_FLEET_PAUSE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("CAMNODE_FLEET_PAUSE=%q", s)
		}
		pause = d
	}

	var reconnect, seen, converge, brokerCPU, clientCPU []time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i > 0 {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
		stopping := time.Now()
		br.Stop()
		started := time.Now()
		view.reset(started)
		self0 := selfCPU()
		br.Start()
		listening := time.Since(started)
		statusAt, seenAt := view.converge(b, n, 2*time.Minute)
		cpu := procCPU(b, br.PID())
		var last time.Duration
		for i := range statusAt {
			reconnect = append(reconnect, max(0, statusAt[i].Sub(started)))
			s := seenAt[i].Sub(started)
			seen = append(seen, s)
			last = max(last, s)
		}
		converge = append(converge, last)
		brokerCPU = append(brokerCPU, cpu)
		clientCPU = append(clientCPU, selfCPU()-self0)
		b.Logf("restart: SIGTERM -> exited in %v; started -> listening in %v; hub converged after %v; node reconnect p50 %v p99 %v max %v; broker CPU %v; test process CPU %v",
			started.Sub(stopping).Round(time.Millisecond), listening.Round(time.Millisecond), last.Round(time.Millisecond),
			quantile(reconnect[len(reconnect)-n:], 0.5).Round(time.Millisecond),
			quantile(reconnect[len(reconnect)-n:], 0.99).Round(time.Millisecond),
			quantile(reconnect[len(reconnect)-n:], 1).Round(time.Millisecond), cpu, clientCPU[len(clientCPU)-1].Round(time.Millisecond))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(n), "nodes")
	b.ReportMetric(ms(quantile(reconnect, 0.5)), "reconnect-p50-ms")
	b.ReportMetric(ms(quantile(reconnect, 0.99)), "reconnect-p99-ms")
	b.ReportMetric(ms(quantile(seen, 0.5)), "hub-seen-p50-ms")
	b.ReportMetric(ms(quantile(converge, 0.5)), "converge-p50-ms")
	b.ReportMetric(ms(quantile(converge, 1)), "converge-max-ms")
	b.ReportMetric(ms(quantile(brokerCPU, 0.5)), "broker-cpu-ms")
	b.ReportMetric(ms(quantile(clientCPU, 0.5)), "clients-cpu-ms")
}
