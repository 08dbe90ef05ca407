// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtt

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/agenttest"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

func reportQuantiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	if len(d) == 0 {
		return
	}
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkMosquittoStatusPublish: a node's retained status publish (QoS 1,
// TLS) until a hub subscriber receives it.
func BenchmarkMosquittoStatusPublish(b *testing.B) {
	p := mqtttest.NewPKI(b)
	br := mqtttest.StartMosquitto(b, p, mqtttest.Options{})
	ccN, ccHub := tlsClient(b, p, br, "node-p"), tlsClient(b, p, br, "hub")
	topics := NodeTopics("camnode", "node-p")
	got := make(chan []byte, 1)
	// One subscription, with got's handler: paho keeps one handler per
	// topic filter, so the watcher must not subscribe to it too (its
	// on-connect subscription could replace got's handler).
	hub := newWatcherOpts(b, ccHub, func(o *paho.ClientOptions) {})
	hub.c.Subscribe(topics.Status, 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	}).Wait()
	node := newWatcherOpts(b, ccN, func(o *paho.ClientOptions) {})
	st := MakeStatus(testStatus(), time.Now(), nil, OutboxStats{})
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		st.Frames = uint64(i)
		payload := fmt.Appendf(nil, `{"seq":%d}`, i)
		t0 := time.Now()
		node.c.Publish(topics.Status, 1, true, payload)
		for {
			m := <-got
			if string(m) == string(payload) {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	reportQuantiles(b, lat)
}

// BenchmarkMosquittoPrivacyCommand: hub publishes a privacy command over
// TLS; the node (real agent, simulated GPIO with 5 ms shutter feedback,
// synthetic camera) executes it; the hub receives the result. Alternates
// off (shutter open, LED, capture start) and on (gate closed, capture
// stopped, shutter closed); "off" is measured from a settled closed shutter
// and, apart, right after an "on" (reopen).
func BenchmarkMosquittoPrivacyCommand(b *testing.B) {
	p := mqtttest.NewPKI(b)
	br := mqtttest.StartMosquitto(b, p, mqtttest.Options{Nagle: os.Getenv("CAMNODE_BENCH_NAGLE") == "1"})
	ccN, ccHub := tlsClient(b, p, br, "node-q"), tlsClient(b, p, br, "hub")
	ta := startAgent(b, "node-q", "reception", b.TempDir())
	startLink(b, ta, Config{Client: ccN, Node: "node-q"})
	topics := NodeTopics("camnode", "node-q")
	results := make(chan Result, 4)
	hub := newWatcherOpts(b, ccHub, func(o *paho.ClientOptions) {}, topics.Availability)
	hub.wait(b, 15*time.Second, "online", func() bool { return hub.get(topics.Availability) == "online" })
	hub.c.Subscribe(topics.Result, 1, func(_ paho.Client, m paho.Message) {
		var r Result
		if jsonUnmarshal(m.Payload(), &r) == nil {
			results <- r
		}
	}).Wait()
	var on, off, reopen []time.Duration
	b.ResetTimer()
	for i := range b.N {
		mode := "off"
		if i%2 == 1 {
			mode = "on"
		}
		settled := i%4 == 0
		if mode == "off" && settled {
			// Leave privacy from a settled shutter, as a technician would.
			// Every other "off" follows the last "on" at once, while the
			// sensor still reads open: the agent then confirms the open
			// shutter over its 150 ms re-open check (reported apart).
			b.StopTimer()
			agenttest.WaitStatus(b, ta.Agent, "shutter sensor closed", 10*time.Second, func(s agent.Status) bool {
				return s.Sensor != nil && !*s.Sensor
			})
			b.StartTimer()
		}
		id := fmt.Sprintf("b%d", i)
		t0 := time.Now()
		hub.c.Publish(topics.Command, 1, false, cmdPayload(id, mode, time.Now()))
		for r := range results {
			if r.ID == id {
				if r.Result != ResultAccepted {
					b.Fatalf("%+v", r)
				}
				break
			}
		}
		switch {
		case mode == "on":
			on = append(on, time.Since(t0))
		case settled:
			off = append(off, time.Since(t0))
		default:
			reopen = append(reopen, time.Since(t0))
		}
	}
	reportQuantiles(b, on)
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"off-p50-µs", off}, {"reopen-p50-µs", reopen}} {
		if len(m.d) > 0 {
			slices.Sort(m.d)
			b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds()), m.name)
		}
	}
}
