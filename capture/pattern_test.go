// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func patternFormats() []Format {
	return []Format{
		{Width: 16, Height: 16, Pixel: I420, FPSNum: 30, FPSDen: 1},
		{Width: 18, Height: 4096, Pixel: YUYV, FPSNum: 30, FPSDen: 1},
		{Width: 320, Height: 240, Pixel: I420, FPSNum: 30, FPSDen: 1},
		{Width: 640, Height: 480, Pixel: YUYV, FPSNum: 30, FPSDen: 1},
		{Width: 1280, Height: 720, Pixel: I420, FPSNum: 30, FPSDen: 1},
	}
}

func TestProduceDoesNotAllocate(t *testing.T) {
	for _, f := range patternFormats() {
		t.Run(f.String(), func(t *testing.T) {
			p := newPainter(f)
			seq := uint64(0)
			now := time.Unix(1700000000, 0)
			allocs := testing.AllocsPerRun(50, func() {
				p.produce(seq, now)
				seq++
			})
			if allocs != 0 {
				t.Errorf("produce allocates %v times per frame, want 0", allocs)
			}
		})
	}
}

func TestProduce(t *testing.T) {
	for _, f := range patternFormats() {
		t.Run(f.String(), func(t *testing.T) {
			p := newPainter(f)
			// Poison the pool: every byte of a frame must be repainted.
			for i := range p.frames {
				fill(p.frames[i].Data, byte(0x55+i*0x40))
			}
			now := time.Unix(1700000000, 123456000)

			f0 := p.produce(0, now)
			if len(f0.Data) != f.FrameSize() || f0.Format != f || f0.Seq != 0 || !f0.Time.Equal(now) {
				t.Fatalf("frame 0: %d bytes, %v, seq %d, %v; want %d bytes, %v, seq 0, %v",
					len(f0.Data), f0.Format, f0.Seq, f0.Time, f.FrameSize(), f, now)
			}
			c, ts, ok := ReadFrameStamp(f0)
			wantStamp := f.Width >= StampWidth && f.Height >= StampHeight
			if ok != wantStamp || (ok && (c != 0 || !ts.Equal(now))) {
				t.Errorf("stamp = %d, %v, %v; want 0, %v, %v", c, ts, ok, now, wantStamp)
			}

			// The pool is used in turn, and frames differ from one to the next.
			rendered := [][]byte{bytes.Clone(f0.Data)}
			seen := map[*byte]bool{&f0.Data[0]: true}
			for seq := uint64(1); seq < poolSize; seq++ {
				fr := p.produce(seq, now)
				if seen[&fr.Data[0]] {
					t.Fatalf("frame %d reuses a buffer before the pool is exhausted", seq)
				}
				seen[&fr.Data[0]] = true
				if bytes.Equal(fr.Data, rendered[seq-1]) {
					t.Errorf("frame %d equals frame %d: the pattern does not move", seq, seq-1)
				}
				rendered = append(rendered, bytes.Clone(fr.Data))
			}

			// Frame 1 rendered again lands in the first (poisoned, then used
			// for frame 0) buffer, and is identical to its first rendering.
			again := p.produce(1, now)
			if again != f0 {
				t.Errorf("frame %d did not reuse the first pool entry", poolSize)
			}
			if !bytes.Equal(again.Data, rendered[1]) {
				t.Error("rendering into a reused buffer differs from rendering into another one")
			}
		})
	}
}

func BenchmarkSyntheticFrame(b *testing.B) {
	for _, f := range []Format{
		{Width: 640, Height: 480, Pixel: I420},
		{Width: 640, Height: 480, Pixel: YUYV},
		{Width: 1280, Height: 720, Pixel: I420},
		{Width: 1280, Height: 720, Pixel: YUYV},
	} {
		b.Run(fmt.Sprintf("%dx%d/%s", f.Width, f.Height, f.Pixel), func(b *testing.B) {
			p := newPainter(f)
			now := time.Unix(1700000000, 0)
			b.ReportAllocs()
			b.SetBytes(int64(f.FrameSize()))
			seq := uint64(0)
			for b.Loop() {
				p.produce(seq, now)
				seq++
			}
		})
	}
}
