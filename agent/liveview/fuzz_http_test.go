// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// httpRig serves the handler of a live server that is streaming (as far
// as admission goes) with a pion offer at hand.
type httpRig struct {
	s     *Server
	h     http.Handler
	k     keys
	offer string
}

func newHTTPRig(t testing.TB) *httpRig {
	k := newKeys(t)
	s, _ := newServer(t, k, nil, func(c *Config) { c.FailBurst = 1 << 30 })
	markLive(s)
	return &httpRig{s: s, h: s.Handler(), k: k, offer: newReceiver(t, false).offer(t)}
}

// do sends one request built from a case's fields; valid puts a fresh
// valid token where auth says {tok}. It returns nil for a request that
// cannot be expressed (bad method or URL).
func (g *httpRig) do(t testing.TB, method, path, auth, body string, valid bool) (*httptest.ResponseRecorder, string) {
	tok := "{tok}"
	if valid {
		tok = g.k.mint(t, time.Now(), time.Minute)
	}
	auth = strings.ReplaceAll(auth, "{tok}", tok)
	body = strings.ReplaceAll(body, "{offer}", g.offer)
	r, err := http.NewRequest(method, "http://node.test"+path, strings.NewReader(body))
	if err != nil {
		return nil, tok
	}
	r.RemoteAddr = "192.0.2.7:40000"
	r.RequestURI = r.URL.RequestURI()
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/sdp")
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w, tok
}

func TestHTTPCases(t *testing.T) {
	g := newHTTPRig(t)
	for _, c := range httpCases() {
		t.Run(c.name, func(t *testing.T) {
			w, _ := g.do(t, c.method, c.path, c.auth, c.body, true)
			if w == nil {
				t.Fatal("request cannot be built")
			}
			if w.Code != c.code {
				t.Fatalf("%s %s: %d %.200q, want %d", c.method, c.path, w.Code, w.Body.String(), c.code)
			}
			if w.Code >= 400 && strings.TrimSpace(w.Body.String()) == "" {
				t.Errorf("status %d without a reason", w.Code)
			}
			if c.path == "/state" && w.Code == http.StatusOK && !strings.Contains(w.Body.String(), `"live":true`) {
				t.Errorf("state: %s", w.Body.String())
			}
			if w.Code == http.StatusCreated {
				g.s.pipe.Cut()
				markLive(g.s)
			}
			if v := g.s.Viewers(); v != 0 {
				t.Fatalf("%d viewers left", v)
			}
		})
	}
}

// FuzzHTTP: no method, path, Authorization header or body makes the
// handler panic; nothing but a POST /whep that carries a valid token opens
// a session; only the page, the script and the state answer 200.
func FuzzHTTP(f *testing.F) {
	for _, c := range httpCases() {
		f.Add(c.method, c.path, c.auth, c.body, true)
		f.Add(c.method, c.path, c.auth, c.body, false)
	}
	g := newHTTPRig(f)
	f.Fuzz(func(t *testing.T, method, path, auth, body string, valid bool) {
		w, tok := g.do(t, method, path, auth, body, valid)
		if w == nil {
			return
		}
		if method == "" {
			method = http.MethodGet // net/http's meaning of an empty method
		}
		switch {
		case w.Code == http.StatusCreated:
			if !valid || !strings.Contains(auth, "{tok}") || method != http.MethodPost {
				t.Fatalf("%q %q auth %q: 201 without a valid token", method, path, auth)
			}
			g.s.pipe.Cut()
			markLive(g.s)
		case w.Code == http.StatusOK:
			if method != http.MethodGet && method != http.MethodHead {
				t.Fatalf("%q %q: %d", method, path, w.Code)
			}
		case w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect:
			// ServeMux cleaning the path: nothing is done.
		case w.Code >= 400 && w.Code < 500 || w.Code == http.StatusServiceUnavailable:
		default:
			t.Fatalf("%q %q: status %d: %.200q", method, path, w.Code, w.Body.String())
		}
		if w.Code != http.StatusCreated && g.s.Viewers() != 0 {
			t.Fatalf("%q %q: %d with a session open", method, path, w.Code)
		}
		_ = tok
	})
}

// rtcpSeeds are real RTCP packets a viewer may send, marshalled by
// pion/rtcp, alone and compound, plus the NACK parser's cases.
func rtcpSeeds(t testing.TB) [][]byte {
	const media, sender = testSSRC, 1
	pkts := []rtcp.Packet{
		&rtcp.PictureLossIndication{SenderSSRC: sender, MediaSSRC: media},
		&rtcp.FullIntraRequest{SenderSSRC: sender, MediaSSRC: media, FIR: []rtcp.FIREntry{{SSRC: media, SequenceNumber: 3}}},
		&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: sender, Bitrate: 1.5e6, SSRCs: []uint32{media}},
		&rtcp.ReceiverReport{SSRC: sender, Reports: []rtcp.ReceptionReport{{SSRC: media, FractionLost: 12, TotalLost: 40,
			LastSequenceNumber: 30, Jitter: 90, LastSenderReport: 7, Delay: 100}}},
		&rtcp.SenderReport{SSRC: sender, NTPTime: 1 << 40, RTPTime: 9000, PacketCount: 10, OctetCount: 12000},
		&rtcp.TransportLayerNack{SenderSSRC: sender, MediaSSRC: media, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{3, 4, 9})},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: sender,
			Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "viewer"}}}}},
		&rtcp.Goodbye{Sources: []uint32{sender}, Reason: "bye"},
		&rtcp.TransportLayerCC{SenderSSRC: sender, MediaSSRC: media, BaseSequenceNumber: 1, PacketStatusCount: 1,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 1}},
			RecvDeltas:   []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}}},
		&rtcp.ExtendedReport{SenderSSRC: sender},
	}
	var out [][]byte
	for _, p := range pkts {
		out = append(out, mustMarshal(t, p))
	}
	out = append(out, mustMarshal(t, pkts[3], pkts[6], pkts[0]), mustMarshal(t, pkts[3], pkts[5], pkts[1], pkts[2]))
	for _, c := range nackCases(t) {
		out = append(out, c.in)
	}
	return out
}

// FuzzRTCP: any RTCP compound packet a viewer sends goes through the
// node's interceptor chain (NACK responder, sender reports) and the
// sender's keyframe check without a panic, and a NACK never makes the node
// send a packet it did not send before.
func FuzzRTCP(f *testing.F) {
	for _, b := range rtcpSeeds(f) {
		f.Add(b)
	}
	cfg := Config{}
	if err := cfg.defaults(); err != nil {
		f.Fatal(err)
	}
	ir, err := newInterceptors(cfg)
	if err != nil {
		f.Fatal(err)
	}
	chain, err := ir.Build("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = chain.Close() })
	below := &sink{keep: true}
	info := &interceptor.StreamInfo{SSRC: testSSRC, ClockRate: 90000, MimeType: "video/H264",
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
	w := chain.BindLocalStream(info, below)
	hdr := rtp.Header{Version: 2, PayloadType: 102, SSRC: testSSRC}
	for seq := range uint16(32) { // packets 0..31 were sent
		hdr.SequenceNumber, hdr.Timestamp = seq, uint32(seq)*3000
		if _, err := w.Write(&hdr, payloadOf(seq), nil); err != nil {
			f.Fatal(err)
		}
	}
	var in []byte
	rd := chain.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, in), a, nil
	}))
	buf := make([]byte, 1500) // pion's receive MTU is smaller
	f.Fuzz(func(t *testing.T, b []byte) {
		below.reset()
		in = b
		n, _, err := rd.Read(buf, nil)
		if err != nil {
			return
		}
		if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
			_ = keyRequested(pkts)
		}
		for _, seq := range below.seqs() {
			if seq >= 32 {
				t.Fatalf("re-sent %d, never sent", seq)
			}
		}
		if !bytes.Equal(buf[:n], b[:min(len(b), len(buf))]) {
			t.Fatal("the chain changed the RTCP it passes on")
		}
	})
}
