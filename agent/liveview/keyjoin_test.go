// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/rtph264"
)

// joinWriter is a joining viewer's write stream as pion's sender gives it
// to the track it binds: the sender binds while the answer is made, long
// before DTLS is done, and until its SRTP session is ready every write goes
// nowhere and returns 0 bytes and no error (pion's srtpWriterFuture; so
// does the sender's writer between Bind and the interceptor chain being
// set). Once ready, it records the NAL (or FU-A) type of every packet sent.
type joinWriter struct {
	ready bool
	sent  []byte
}

func (w *joinWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if !w.ready {
		return 0, nil
	}
	w.sent = append(w.sent, payload[0]&0x1f)
	return h.MarshalSize() + len(payload), nil
}

func (w *joinWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.WriteRTP(&p.Header, p.Payload)
}

// keyCounter is a camera that counts the keyframes asked of it.
type keyCounter struct{ n atomic.Int32 }

func (k *keyCounter) RequestKeyframe() bool { k.n.Add(1); return true }

// TestJoinFirstPictureIsKeyframe: a joining viewer's first picture is an
// IDR with its parameter sets even when the IDR asked for at the binding
// was written before the viewer's sender could send (its SRTP not ready:
// seen under load in TestSessionMediaDeleteReplay, whose viewer got a P
// frame, or the tail of an IDR, first). Until the viewer has an IDR,
// nothing else is sent to it, and keyframes are asked for while it waits
// connected.
func TestJoinFirstPictureIsKeyframe(t *testing.T) {
	s, _ := newServer(t, newKeys(t), nil)
	keys := &keyCounter{}
	s.pipe.SetKeyframeSource(keys)
	track, err := s.trackFor(0)
	if err != nil {
		t.Fatal(err)
	}
	sess := &session{id: "joiner", done: make(chan struct{})}
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	t.Cleanup(func() { // the fake session has no peer connection to close
		s.mu.Lock()
		clear(s.sessions)
		s.mu.Unlock()
	})
	w := &joinWriter{}
	if _, err := (&viewerTrack{joinTrack: track, sess: sess}).Bind(fakeBinding{id: sess.id, w: w}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	i := 0
	write := func(key bool) {
		i++
		au := &pipeline.AU{Time: t0.Add(time.Duration(i) * time.Second / 30), Key: key}
		if key {
			au.Data = rtph264.AnnexB(rtph264.TestNAL(pipeline.NALSPS, 20), rtph264.TestNAL(pipeline.NALPPS, 6),
				rtph264.TestNAL(pipeline.NALIDR, 3000))
		} else {
			au.Data = rtph264.AnnexB(rtph264.TestNAL(1, 3000))
		}
		s.WriteAU(au)
	}

	write(true) // the IDR asked for at the binding: the sender cannot send yet
	// DTLS done: the viewer's SRTP is ready and it is connected.
	w.ready = true
	sess.connected.Store(true)
	asked := keys.n.Load()
	write(false) // encoded before the IDR asked for on connecting
	if len(w.sent) != 0 {
		t.Fatalf("the joining viewer got NAL types %v before any IDR, want nothing before SPS+PPS+IDR", w.sent)
	}
	if keys.n.Load() == asked {
		t.Fatal("no keyframe asked for while the connected viewer waits for one")
	}
	write(true)
	write(false)
	if len(w.sent) == 0 || w.sent[0] != pipeline.NALSPS {
		t.Fatalf("the joining viewer got NAL types %v, want SPS first", w.sent)
	}
	if got := w.sent[len(w.sent)-1]; got != 28 {
		t.Fatalf("after its IDR the viewer got NAL types %v, want the P frame's FU-A last", w.sent)
	}
}

// TestPLIKeyframe: a viewer that lost its keyframe on the way (or cannot
// decode) sends PLI, as browsers do, and the node asks the pipeline for a
// keyframe, which reaches the viewer.
func TestPLIKeyframe(t *testing.T) {
	k := newKeys(t)
	s, _ := newServer(t, k, nil)
	keys := &keyCounter{}
	s.pipe.SetKeyframeSource(keys)
	feedFrames(t, s, 320, 240)
	r, _ := openSession(t, s, k.mint(t, time.Now(), 5*time.Minute), false)
	ssrc := waitFor(t, r.ssrc, 10*time.Second, "track")
	// The viewer got its first keyframe: its key gate is open and asks
	// for nothing more, and the keyframe asked for on connecting was asked
	// for before the node saw it connected (openSession waited for that).
	first := waitFor(t, r.pkts, 10*time.Second, "the first packet")
	if first.Payload[0]&0x1f != pipeline.NALSPS {
		t.Fatalf("first packet is NAL type %d, want SPS", first.Payload[0]&0x1f)
	}
	asked := keys.n.Load()
	drain(r.pkts)
	if err := r.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 10*time.Second, "a keyframe asked for on PLI", func() bool { return keys.n.Load() > asked })
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-r.pkts:
			if p.Payload[0]&0x1f == pipeline.NALSPS {
				return
			}
		case <-deadline:
			t.Fatal("no keyframe reached the viewer after its PLI")
		}
	}
}
