// SPDX-License-Identifier: Apache-2.0

package interleave

import (
	"bytes"
	"math/rand/v2"

	"github.com/pion/rtp"
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

// PutChannel rewrites the channel of every frame of the queued copy (and
// nothing else), and leaves the caller's bytes alone.
func TestPutChannel(t *testing.T) {
	var f Framer
	for _, n := range []int{1, 7, 300, 1400} {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n)}, Payload: bytes.Repeat([]byte{'$'}, n)}
		if err := f.WriteRTP(&pkt); err != nil {
			t.Fatal(err)
		}
	}
	orig := bytes.Clone(f.Buf)
	q := NewQueue(1<<16, 4)
	if !q.PutChannel(f.Buf, 6) {
		t.Fatal("refused")
	}
	got, ok := q.Next()
	if !ok || !bytes.Equal(f.Buf, orig) {
		t.Fatal("no unit, or the caller's bytes changed")
	}
	want := bytes.Clone(orig)
	for i := 0; i < len(want); i += 4 + int(want[i+2])<<8 + int(want[i+3]) {
		want[i+1] = 6
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("queued frames\n%x\nwant\n%x", got, want)
	}
}
