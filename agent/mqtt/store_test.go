// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

func testPublish(id uint16, topic, payload string) *packets.PublishPacket {
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.Qos, p.Retain, p.MessageID = 1, true, id
	p.TopicName, p.Payload = topic, []byte(payload)
	return p
}

// TestCopyStoreGetIsACopy: what paho's resume() does to a stored publish
// (set Dup) must not reach the packet the writer still holds, nor the
// stored bytes. The concurrent half is what the race detector checks.
func TestCopyStoreGetIsACopy(t *testing.T) {
	s := newCopyStore()
	s.Open()
	orig := testPublish(7, "camnode/n/status", `{"privacy":true}`)
	s.Put("o.7", orig)

	var wg sync.WaitGroup
	wg.Go(func() { // the old connection's writer, still encoding
		for range 100 {
			if err := orig.Write(io.Discard); err != nil {
				t.Error(err)
			}
		}
	})
	for range 100 { // resume() on the new connection
		got, ok := s.Get("o.7").(*packets.PublishPacket)
		if !ok {
			t.Fatal("Get: not a publish")
		}
		if got == orig {
			t.Fatal("Get returned the stored pointer itself")
		}
		got.Dup = true
	}
	wg.Wait()

	if orig.Dup {
		t.Error("Dup set on the writer's packet")
	}
	again := s.Get("o.7").(*packets.PublishPacket)
	if again.Dup || again.MessageID != 7 || again.TopicName != "camnode/n/status" ||
		string(again.Payload) != `{"privacy":true}` || again.Qos != 1 || !again.Retain {
		t.Errorf("stored copy changed or decoded wrong: %+v", again)
	}
}

// TestCopyStoreOrderAndLifecycle: All lists keys in first-stored order (a
// reconnect resends the backlog in sequence; a replaced key keeps its
// place), Del and Reset forget, a closed store stores nothing and returns
// nothing, and unknown keys give nil (paho skips nil).
func TestCopyStoreOrderAndLifecycle(t *testing.T) {
	s := newCopyStore()
	s.Put("o.1", testPublish(1, "a", "x")) // not open yet: dropped
	if s.All() != nil || s.Get("o.1") != nil {
		t.Fatal("closed store returned something")
	}
	s.Open()
	for _, id := range []uint16{9, 3, 200, 1, 64} {
		s.Put(outKey(id), testPublish(id, "t", "p"))
	}
	s.Put(outKey(3), testPublish(3, "t", "replaced"))
	want := []string{"o.9", "o.3", "o.200", "o.1", "o.64"}
	if got := s.All(); !slices.Equal(got, want) {
		t.Fatalf("All = %v, want %v", got, want)
	}
	if p := s.Get("o.3").(*packets.PublishPacket); string(p.Payload) != "replaced" {
		t.Errorf("replaced entry payload %q", p.Payload)
	}
	s.Del("o.200")
	s.Del("o.404") // unknown: no-op
	if got := s.All(); !slices.Equal(got, []string{"o.9", "o.3", "o.1", "o.64"}) {
		t.Errorf("after Del: %v", got)
	}
	if s.Get("o.200") != nil {
		t.Error("deleted key still returned")
	}
	s.Close()
	if s.Get("o.9") != nil || s.All() != nil {
		t.Error("closed store still answers")
	}
	s.Open()
	s.Reset()
	if len(s.All()) != 0 {
		t.Error("Reset kept entries")
	}
}

func outKey(id uint16) string { return "o." + strconv.Itoa(int(id)) }
