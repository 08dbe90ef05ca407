// SPDX-License-Identifier: Apache-2.0

package push

import "sync"

// sendQueue holds the interleaved RTP frames of whole access units between
// the pipeline goroutine (put) and the session's sender goroutine (next,
// pop). It never allocates after it is made: access units are copied into
// one byte arena, each into contiguous space (never split at the wrap, so
// the sender writes one access unit with one Write). When an access unit
// does not fit it is dropped and the caller waits for the next IDR.
// Discard empties it: nothing queued before a Cut is ever sent.
type sendQueue struct {
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

func newSendQueue(bytes, entries int) *sendQueue {
	q := &sendQueue{arena: make([]byte, bytes), ents: make([]qent, entries)}
	q.cond.L = &q.mu
	return q
}

// reset makes an empty, live queue (a new session).
func (q *sendQueue) reset() {
	q.mu.Lock()
	q.head, q.n, q.w, q.dead = 0, 0, 0, false
	q.mu.Unlock()
}

// put copies one access unit's frames into the queue; false if there is
// no room (or the queue is dead).
func (q *sendQueue) put(b []byte) bool {
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
	q.ents[(q.head+q.n)%len(q.ents)] = qent{off, len(b)}
	q.n++
	q.w = off + len(b)
	q.cond.Signal()
	return true
}

// next waits for the oldest access unit and returns its bytes, which stay
// valid until pop; ok is false once the queue is dead.
func (q *sendQueue) next() (b []byte, ok bool) {
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

// pop releases the access unit next returned.
func (q *sendQueue) pop() {
	q.mu.Lock()
	if q.n > 0 {
		q.head = (q.head + 1) % len(q.ents)
		q.n--
		if q.n == 0 {
			q.cond.Broadcast() // waitEmpty
		}
	}
	q.mu.Unlock()
}

// waitEmpty waits until everything queued has been written (or the queue
// died).
func (q *sendQueue) waitEmpty() {
	q.mu.Lock()
	for q.n > 0 && !q.dead {
		q.cond.Wait()
	}
	q.mu.Unlock()
}

// discard drops everything queued and makes the queue dead: put refuses,
// next returns !ok.
func (q *sendQueue) discard() {
	q.mu.Lock()
	q.head, q.n, q.w, q.dead = 0, 0, 0, true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// queued returns the number of access units waiting.
func (q *sendQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
