// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/rtph264"
)

// countWriter is a viewer's write stream that only counts: it stands in for
// pion's per-sender interceptor chain, SRTP and socket.
type countWriter struct{ pkts, bytes int }

func (c *countWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	c.pkts++
	c.bytes += len(payload)
	return len(payload), nil
}

func (c *countWriter) Write(b []byte) (int, error) { c.pkts++; c.bytes += len(b); return len(b), nil }

// fakeBinding is the TrackLocalContext a sender gives a track when it
// binds it.
type fakeBinding struct {
	id string
	w  webrtc.TrackLocalWriter
}

func (f fakeBinding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
		ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		PayloadType: 102}}
}
func (f fakeBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (f fakeBinding) SSRC() webrtc.SSRC                                      { return 1000 }
func (f fakeBinding) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (f fakeBinding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (f fakeBinding) WriteStream() webrtc.TrackLocalWriter                   { return f.w }
func (f fakeBinding) ID() string                                             { return f.id }
func (f fakeBinding) RTCPReader() interceptor.RTCPReader                     { return nil }

// sharedTrackPath sets s up as if nv viewers were connected: the shared
// TrackLocalStaticRTP bound to nv counting write streams, nv connected
// sessions (for the per-session frame counters). It returns the writers
// and a function that runs one H.264 access unit through WriteAU, the
// live view's whole per-frame path (read lock, packetizer, shared track
// fan-out, counters).
func sharedTrackPath(t testing.TB, nv int) (*Server, []*countWriter, func()) {
	t.Helper()
	s, _ := newServer(t, newKeys(t), nil)
	track, err := s.trackFor(0)
	if err != nil {
		t.Fatal(err)
	}
	var ws []*countWriter
	s.mu.Lock()
	for i := range nv {
		w := &countWriter{}
		sess := &session{id: fmt.Sprint(i), done: make(chan struct{})}
		sess.connected.Store(true)
		if _, err := (&viewerTrack{joinTrack: track, sess: sess}).Bind(fakeBinding{id: sess.id, w: w}); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
		s.sessions[sess.id] = sess
	}
	s.mu.Unlock()
	t.Cleanup(func() { // the fake sessions have no peer connection to close
		s.mu.Lock()
		clear(s.sessions)
		s.mu.Unlock()
	})
	t0 := time.Now()
	// A keyframe first: nothing else reaches a new binding before one.
	s.WriteAU(&pipeline.AU{Time: t0, Key: true, Data: rtph264.AnnexB(rtph264.TestNAL(pipeline.NALSPS, 20),
		rtph264.TestNAL(pipeline.NALPPS, 6), rtph264.TestNAL(pipeline.NALIDR, 6500))})
	au := &pipeline.AU{Data: rtph264.AnnexB(rtph264.TestNAL(1, 6500))} // a 1.5 Mbit/s @ 30 fps P frame: 6 packets
	i := 0
	return s, ws, func() {
		i++
		au.Time = t0.Add(time.Duration(i) * time.Second / 30)
		s.WriteAU(au)
	}
}

// TestSharedTrackWriteAllocs: per frame, the live view's own send path
// (WriteAU with an H.264 access unit: packetizer, the shared
// TrackLocalStaticRTP's fan-out to every bound sender) allocates nothing,
// for 1 and 8 viewers. What pion allocates per packet below the track
// (interceptors, SRTP, socket) is measured by BenchmarkSendAllocs.
func TestSharedTrackWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector (sync.Pool drops items); run without -race")
	}
	for _, nv := range []int{1, 8} {
		_, ws, frame := sharedTrackPath(t, nv)
		frame() // first frame of an epoch
		a := testing.AllocsPerRun(200, frame)
		if ws[0].pkts == 0 || ws[nv-1].pkts != ws[0].pkts {
			t.Fatalf("%d viewers: packets per writer %d..%d", nv, ws[0].pkts, ws[nv-1].pkts)
		}
		if a != 0 {
			t.Errorf("%d viewers: %v allocations per frame (%d packets each) on our send path, want 0", nv, a, ws[0].pkts/201)
		}
	}
}

// BenchmarkSharedTrackWrite: time and allocations per frame and per packet
// of the same path as TestSharedTrackWriteAllocs.
//
//	go test ./agent/liveview/ -run '^$' -bench SharedTrackWrite -benchmem
func BenchmarkSharedTrackWrite(b *testing.B) {
	for _, nv := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("viewers=%d", nv), func(b *testing.B) {
			_, ws, frame := sharedTrackPath(b, nv)
			frame()
			p0 := ws[0].pkts
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				frame()
			}
			b.StopTimer()
			pkts := float64(ws[0].pkts-p0) / float64(b.N)
			b.ReportMetric(pkts, "pkts/frame")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/pkts/float64(nv), "ns/pkt/viewer")
		})
	}
}
