// SPDX-License-Identifier: Apache-2.0

//go:build integration && linux && cgo

package liveview

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
)

// cpuNow returns the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssKB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	var kb int64
	for _, l := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(l, "VmRSS: %d kB", &kb); err == nil {
			return kb
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// stampedFrames makes n stamped 640x480 I420 frames.
func stampedFrames(t testing.TB, n int) []*capture.Frame {
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 640, Height: 480, Pixel: capture.I420, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	_ = cam
	var out []*capture.Frame
	f := capture.Format{Width: 640, Height: 480, Pixel: capture.I420, FPSNum: 30, FPSDen: 1}
	t0 := time.Now()
	for i := range n {
		d := make([]byte, f.FrameSize())
		for j := range d {
			d[j] = byte((j*7 + i*3) % 200)
		}
		fr := &capture.Frame{Data: d, Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Second / 30), Format: f}
		capture.Stamp(fr, uint32(i), fr.Time)
		out = append(out, fr)
	}
	return out
}

const perfFrames = 300

// BenchmarkFanout measures CPU and allocations per frame for 1, 4 and 8
// pion viewers: the shared-encode fan-out against a naive baseline (one
// TrackLocalStaticSample and one x264 encode per viewer, default
// interceptors), in the same run. Each iteration is a full measurement of
// perfFrames frames per configuration, so run it with -benchtime 1x:
//
//	go test -tags integration ./agent/liveview/ -run '^$' -bench Fanout -benchtime 1x
func BenchmarkFanout(b *testing.B) {
	frames := stampedFrames(b, 30)
	for range b.N {
		var ours, naive [3]time.Duration
		for i, nv := range []int{1, 4, 8} {
			var oursAlloc, pkts, naiveAlloc float64
			ours[i], oursAlloc, pkts = perfOurs(b, nv, frames)
			naive[i], naiveAlloc = perfNaive(b, nv, frames)
			b.ReportMetric(float64(ours[i].Microseconds()), fmt.Sprintf("ours-%dv-µs/frame", nv))
			b.ReportMetric(float64(naive[i].Microseconds()), fmt.Sprintf("naive-%dv-µs/frame", nv))
			b.ReportMetric(oursAlloc, fmt.Sprintf("ours-%dv-allocs/frame", nv))
			b.ReportMetric(naiveAlloc, fmt.Sprintf("naive-%dv-allocs/frame", nv))
			b.ReportMetric(pkts, fmt.Sprintf("ours-%dv-pkts/frame", nv))
		}
		per := func(d [3]time.Duration) float64 { return float64(d[2]-d[0]) / 7 }
		b.ReportMetric(per(ours)/per(naive), "extra-viewer-cpu-ratio")
	}
}

func perfOurs(t testing.TB, nv int, frames []*capture.Frame) (time.Duration, float64, float64) {
	k := newKeys(t)
	s, _ := newServer(t, k, nil)
	s.pipe.WriteFrame(frames[0]) // frames are flowing: viewers are admitted
	var rs []*receiver
	for range nv {
		r := newReceiver(t, false)
		w := post(s.Handler(), k.mint(t, time.Now(), time.Minute), "application/sdp", r.offer(t))
		if w.Code != http.StatusCreated {
			t.Fatalf("%d %s", w.Code, w.Body.String())
		}
		r.answer(t, w.Body.String())
		rs = append(rs, r)
	}
	for _, r := range rs {
		waitFor(t, r.connect, 10*time.Second, "connect")
		go func() {
			for range r.pkts {
			}
		}()
	}
	// The pipeline's per-frame work, synchronously: encode, then WriteAU.
	enc, err := pipeline.NewEncoder(frames[0].Format, 30, pipeline.DefaultBitrateKbps, 60, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.Close)
	au := &pipeline.AU{}
	var buf []byte
	first := true
	run := func(n int) {
		for i := range n {
			f := frames[i%len(frames)]
			if buf, err = enc.Encode(buf[:0], f.Data, first); err != nil {
				t.Fatal(err)
			}
			first = false
			au.Data, au.Time = buf, time.Now()
			s.WriteAU(au)
		}
	}
	run(30) // warm up
	seq0 := s.pk.seq
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c0 := cpuNow()
	run(perfFrames)
	c1 := cpuNow()
	runtime.ReadMemStats(&m1)
	pkts := float64(uint16(s.pk.seq-seq0)) / perfFrames
	return (c1 - c0) / perfFrames, float64(m1.Mallocs-m0.Mallocs) / perfFrames, pkts
}

func perfNaive(t testing.TB, nv int, frames []*capture.Frame) (time.Duration, float64) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)) // default interceptors
	type viewer struct {
		enc   pipeline.Encoder
		track *webrtc.TrackLocalStaticSample
	}
	var vs []viewer
	for range nv {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close() })
		tr, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}, "video", "naive")
		if _, err := pc.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
		r := newReceiver(t, false)
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: r.offer(t)}); err != nil {
			t.Fatal(err)
		}
		ans, _ := pc.CreateAnswer(nil)
		g := webrtc.GatheringCompletePromise(pc)
		_ = pc.SetLocalDescription(ans)
		<-g
		r.answer(t, pc.LocalDescription().SDP)
		waitFor(t, r.connect, 10*time.Second, "naive connect")
		go func() {
			for range r.pkts {
			}
		}()
		enc, err := pipeline.NewEncoder(frames[0].Format, 30, pipeline.DefaultBitrateKbps, 60, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(enc.Close)
		vs = append(vs, viewer{enc, tr})
	}
	var au []byte
	run := func(n int) {
		for i := range n {
			f := frames[i%len(frames)]
			for _, v := range vs {
				au, _ = v.enc.Encode(au[:0], f.Data, false)
				_ = v.track.WriteSample(media.Sample{Data: au, Duration: time.Second / 30})
			}
		}
	}
	run(30)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c0 := cpuNow()
	run(perfFrames)
	c1 := cpuNow()
	runtime.ReadMemStats(&m1)
	return (c1 - c0) / perfFrames, float64(m1.Mallocs-m0.Mallocs) / perfFrames
}
