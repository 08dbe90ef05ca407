// SPDX-License-Identifier: Apache-2.0

package interleave

import (
	"sync"

	"github.com/pion/rtp"
)

// Framer appends RTP packets to Buf as RTSP interleaved frames ('$', the
// channel, the length, the packet; RFC 2326 10.12) on Channel. Reusing
// Buf (Buf = Buf[:0]) it allocates nothing once Buf has grown to an
// access unit's size.
type Framer struct {
	Buf     []byte
	Channel byte
}

// WriteRTP implements rtph264.Writer.
func (f *Framer) WriteRTP(pkt *rtp.Packet) error {
	n := pkt.MarshalSize()
	f.Buf = append(f.Buf, '$', f.Channel, byte(n>>8), byte(n))
	at := len(f.Buf)
	f.Buf = append(f.Buf, make([]byte, n)...) // no allocation: append of make is optimised into growth only
	_, err := pkt.MarshalTo(f.Buf[at:])
	return err
}

// Queue holds the interleaved RTP frames of whole access units between
// the pipeline goroutine (Put) and a session's sender goroutine (Next,
// Pop). It never allocates after it is made: access units are copied into
// one byte arena, each into contiguous space (never split at the wrap, so
// the sender writes one access unit with one Write). When an access unit
// does not fit it is dropped and the caller waits for the next IDR.
// Discard empties it: nothing queued before a Cut is ever sent.
type Queue struct {
	mu    sync.Mutex
	cond  sync.Cond
	arena []byte
	ents  []qent // ring of queued access units
	head  int    // index of the oldest entry
	n     int    // entries queued
	w     int    // arena offset where the next access unit goes
	dead  bool
}

type qent struct{ off, n int }

func NewQueue(bytes, entries int) *Queue {
	q := &Queue{arena: make([]byte, bytes), ents: make([]qent, entries)}
	q.cond.L = &q.mu
	return q
}

// Reset makes an empty, live queue (a new session).
func (q *Queue) Reset() {
	q.mu.Lock()
	q.head, q.n, q.w, q.dead = 0, 0, 0, false
	q.mu.Unlock()
}

// Put copies one access unit's frames into the queue; false if there is
// no room (or the queue is dead).
func (q *Queue) Put(b []byte) bool {
	return q.PutChannel(b, -1)
}

// PutChannel is Put of interleaved frames (Framer's) rewritten, in the
// queue's copy, onto the given channel (one framing for sessions on
// different channels); channel < 0 keeps the bytes as they are.
func (q *Queue) PutChannel(b []byte, channel int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead || q.n == len(q.ents) || len(b) == 0 {
		return false
	}
	off := -1
	if q.n == 0 {
		q.w = 0
		if len(b) <= len(q.arena) {
			off = 0
		}
	} else {
		r := q.ents[q.head].off // oldest byte still needed
		switch {
		case q.w > r && len(b) <= len(q.arena)-q.w:
			off = q.w
		case q.w > r && len(b) <= r:
			off = 0 // wrap: the tail is skipped
		case q.w <= r && q.w+len(b) <= r:
			off = q.w
		}
	}
	if off < 0 {
		return false
	}
	copy(q.arena[off:], b)
	if channel >= 0 && byte(channel) != b[1] { // frames: '$', channel, length (2 bytes), packet
		for f := q.arena[off : off+len(b)]; len(f) >= 4; {
			f[1] = byte(channel)
			f = f[min(len(f), 4+(int(f[2])<<8|int(f[3]))):]
		}
	}
	q.ents[(q.head+q.n)%len(q.ents)] = qent{off, len(b)}
	q.n++
	q.w = off + len(b)
	q.cond.Signal()
	return true
}

// Next waits for the oldest access unit and returns its bytes, which stay
// valid until Pop; ok is false once the queue is dead.
func (q *Queue) Next() (b []byte, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 && !q.dead {
		q.cond.Wait()
	}
	if q.dead {
		return nil, false
	}
	e := q.ents[q.head]
	return q.arena[e.off : e.off+e.n], true
}

// Pop releases the access unit Next returned.
func (q *Queue) Pop() {
	q.mu.Lock()
	if q.n > 0 {
		q.head = (q.head + 1) % len(q.ents)
		q.n--
		if q.n == 0 {
			q.cond.Broadcast() // WaitEmpty
		}
	}
	q.mu.Unlock()
}

// WaitEmpty waits until everything queued has been written (or the queue
// died).
func (q *Queue) WaitEmpty() {
	q.mu.Lock()
	for q.n > 0 && !q.dead {
		q.cond.Wait()
	}
	q.mu.Unlock()
}

// Discard drops everything queued and makes the queue dead: Put refuses,
// Next returns !ok.
func (q *Queue) Discard() {
	q.mu.Lock()
	q.head, q.n, q.w, q.dead = 0, 0, 0, true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Queued returns the number of access units waiting.
func (q *Queue) Queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
