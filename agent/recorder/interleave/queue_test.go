// SPDX-License-Identifier: Apache-2.0

package interleave

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The send queue against a model FIFO: every access unit comes out whole,
// in order, as it went in, across many wraps of the arena; a put is
// refused only when the queue holds something (or the unit is larger than
// the arena); discard empties it and refuses until reset.
func TestSendQueue(t *testing.T) {
	const arena, ents = 1000, 8
	q := NewQueue(arena, ents)
	rnd := rand.New(rand.NewPCG(1, 2))
	var model [][]byte
	queued := 0
	for i := range 20000 {
		if rnd.IntN(2) == 0 {
			b := bytes.Repeat([]byte{byte(i)}, 1+rnd.IntN(400))
			if q.Put(b) {
				model = append(model, b)
				queued += len(b)
			} else if len(model) == 0 {
				t.Fatalf("step %d: %d bytes refused by an empty queue", i, len(b))
			} else if len(model) < ents && queued+len(b) <= arena/2 {
				t.Fatalf("step %d: %d bytes refused with %d of %d queued", i, len(b), queued, arena)
			}
			continue
		}
		if len(model) == 0 {
			continue
		}
		got, ok := q.Next()
		if !ok || !bytes.Equal(got, model[0]) {
			t.Fatalf("step %d: got %d bytes (ok %v), want %d bytes of %d", i, len(got), ok, len(model[0]), model[0][0])
		}
		q.Pop()
		queued -= len(model[0])
		model = model[1:]
		if q.Queued() != len(model) {
			t.Fatalf("step %d: %d queued, model %d", i, q.Queued(), len(model))
		}
	}
	if q.Put(make([]byte, arena+1)) {
		t.Fatal("a unit larger than the arena was queued")
	}
	q.Discard()
	if q.Queued() != 0 || q.Put([]byte{1}) {
		t.Fatal("discarded queue not empty or still taking units")
	}
	if _, ok := q.Next(); ok {
		t.Fatal("next on a dead queue")
	}
	q.Reset()
	if !q.Put([]byte{1}) {
		t.Fatal("reset queue refuses")
	}
}
