// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bytes"
	"cmp"
	"slices"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyStore is the in-flight store the node's paho client uses instead of
// paho's MemoryStore. It keeps each packet's wire bytes and decodes a fresh
// copy on every Get, so nothing paho gets back from the store is shared
// with a packet another goroutine still holds.
//
// Why: after a lost connection paho v1.5.1 resends the unacknowledged
// QoS 1 publishes from resume(), setting Dup on the packet it got from the
// store, while the dead connection's writer may still be encoding that
// same pointer. With MemoryStore that is a data race (reported upstream as
// eclipse-paho/paho.mqtt.golang#703, still open; our CI's race detector
// caught it in TestMosquittoDeadBrokerDetection). With copies the two
// goroutines touch different memory.
//
// It also resends in the order the packets were first stored (MemoryStore
// returns map order), so the hub sees a reconnect's backlog in sequence.
type copyStore struct {
	mu     sync.Mutex
	opened bool
	seq    uint64
	m      map[string]storedPacket
}

type storedPacket struct {
	seq  uint64
	wire []byte
}

var _ paho.Store = (*copyStore)(nil)

func newCopyStore() *copyStore { return &copyStore{m: map[string]storedPacket{}} }

func (s *copyStore) Open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = true
}

func (s *copyStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = false
}

// Put encodes p. paho calls it from the goroutine that owns p, before p is
// handed to the writer, so encoding here (Write sets RemainingLength) does
// not race with the writer.
func (s *copyStore) Put(key string, p packets.ControlPacket) {
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		return // an unencodable packet could not have been sent either
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opened {
		return
	}
	s.seq++
	seq := s.seq
	if old, ok := s.m[key]; ok {
		seq = old.seq // a replaced entry (pubrel for its publish) keeps its place
	}
	s.m[key] = storedPacket{seq: seq, wire: b.Bytes()}
}

// Get returns a freshly decoded copy, or nil (paho skips nil).
func (s *copyStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	sp, ok := s.m[key]
	opened := s.opened
	s.mu.Unlock()
	if !ok || !opened {
		return nil
	}
	p, err := packets.ReadPacket(bytes.NewReader(sp.wire))
	if err != nil {
		return nil
	}
	return p
}

// All lists the keys in the order they were first stored.
func (s *copyStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opened {
		return nil
	}
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Compare(s.m[a].seq, s.m[b].seq)
	})
	return keys
}

func (s *copyStore) Del(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

func (s *copyStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
}
