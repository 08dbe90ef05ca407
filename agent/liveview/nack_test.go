// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// fci is one Generic NACK entry as nackIter returns it.
type fci struct {
	ssrc     uint32
	pid, blp uint16
}

func parseNACKs(b []byte) []fci {
	var out []fci
	it := nackIter{rest: b}
	for {
		ssrc, pid, blp, ok := it.next()
		if !ok {
			return out
		}
		out = append(out, fci{ssrc, pid, blp})
	}
}

func mustMarshal(t testing.TB, pkts ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tln(media uint32, pairs ...rtcp.NackPair) *rtcp.TransportLayerNack {
	return &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: media, Nacks: pairs}
}

// rawRTCP builds one RTCP packet by hand: header (version 2, padding bit
// if pad > 0, count/FMT, PT, length in words minus one) and body, padded
// with pad bytes whose last one counts them.
func rawRTCP(fmtc, pt byte, body []byte, pad int) []byte {
	b := []byte{2<<6 | fmtc, pt, 0, 0}
	b = append(b, body...)
	if pad > 0 {
		b[0] |= 0x20
		b = append(b, make([]byte, pad)...)
		b[len(b)-1] = byte(pad)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)/4-1))
	return b
}

func nackBody(sender, media uint32, pairs ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, sender)
	b = binary.BigEndian.AppendUint32(b, media)
	for _, v := range pairs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

type nackCase struct {
	name string
	in   []byte
	want []fci
}

func nackCases(t testing.TB) []nackCase {
	rr := &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 7, LastSequenceNumber: 9}}}
	pli := &rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 7}
	one := mustMarshal(t, tln(7, rtcp.NackPair{PacketID: 100, LostPackets: 0b101}))
	return []nackCase{
		{"empty", nil, nil},
		{"short", []byte{0x81, 205, 0}, nil},
		{"single", one, []fci{{7, 100, 0b101}}},
		{"several FCIs", mustMarshal(t, tln(7, rtcp.NackPair{PacketID: 65535, LostPackets: 1},
			rtcp.NackPair{PacketID: 3})), []fci{{7, 65535, 1}, {7, 3, 0}}},
		{"compound RR NACK PLI NACK", mustMarshal(t, rr, tln(7, rtcp.NackPair{PacketID: 5}), pli,
			tln(8, rtcp.NackPair{PacketID: 6, LostPackets: 0xffff})), []fci{{7, 5, 0}, {8, 6, 0xffff}}},
		{"RR only", mustMarshal(t, rr), nil},
		{"PLI only", mustMarshal(t, pli), nil},
		{"TWCC (RTPFB FMT 15) skipped", append(rawRTCP(15, 205, nackBody(1, 7, 1, 2), 0), one...),
			[]fci{{7, 100, 0b101}}},
		{"PSFB FMT 1 skipped", rawRTCP(1, 206, nackBody(1, 7, 1, 2), 0), nil},
		{"no FCI", rawRTCP(1, 205, nackBody(1, 7), 0), nil},
		{"too short for the SSRCs", rawRTCP(1, 205, []byte{0, 0, 0, 1}, 0), nil},
		{"bad version stops", append([]byte{0x41, 205, 0, 0}, one...), nil},
		{"length past the end stops", append(slices.Clone(one), 0x81, 205, 0, 9, 0, 0, 0, 1), []fci{{7, 100, 0b101}}},
		{"length past the end first", func() []byte {
			b := slices.Clone(one)
			b[3]++
			return b
		}(), nil},
		{"trailing garbage under 4 bytes", append(slices.Clone(one), 0x81, 205), []fci{{7, 100, 0b101}}},
		{"padding", rawRTCP(1, 205, nackBody(1, 9, 10, 0, 11, 1), 4), []fci{{9, 10, 0}, {9, 11, 1}}},
		{"padding of 8", rawRTCP(1, 205, nackBody(1, 9, 10, 0), 8), []fci{{9, 10, 0}}},
		{"padding count 0", func() []byte {
			b := rawRTCP(1, 205, nackBody(1, 9, 10, 0), 4)
			b[len(b)-1] = 0
			return b
		}(), nil},
		{"padding larger than the FCIs", func() []byte {
			b := rawRTCP(1, 205, nackBody(1, 9, 10, 0), 4)
			b[len(b)-1] = 9
			return b
		}(), nil},
	}
}

func TestNACKParse(t *testing.T) {
	for _, c := range nackCases(t) {
		if got := parseNACKs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzNACKParse: the parser never panics, and where pion's rtcp.Unmarshal
// accepts the input (and no RTPFB packet has the padding bit, which pion
// ignores) both find the same Generic NACKs.
func FuzzNACKParse(f *testing.F) {
	for _, c := range nackCases(f) {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := parseNACKs(b)
		pkts, err := rtcp.Unmarshal(b)
		if err != nil || paddedRTPFB(b) {
			return
		}
		var want []fci
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				for _, pr := range n.Nacks {
					want = append(want, fci{n.MediaSSRC, pr.PacketID, uint16(pr.LostPackets)})
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("% x: got %v, pion %v", b, got, want)
		}
	})
}

// paddedRTPFB reports whether a well-formed compound packet holds an
// RTPFB packet with the padding bit set.
func paddedRTPFB(b []byte) bool {
	for len(b) >= 4 {
		size := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if size > len(b) {
			return false
		}
		if b[1] == rtcpRTPFB && b[0]&0x20 != 0 {
			return true
		}
		b = b[size:]
	}
	return false
}

// sink is the writer below the responder (SRTP in pion): it records what
// it is given.
type sink struct {
	mu    sync.Mutex
	pkts  []rtp.Packet // copies, when keep
	keep  bool
	count atomic.Int64
}

func (s *sink) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	s.count.Add(1)
	if s.keep {
		s.mu.Lock()
		s.pkts = append(s.pkts, rtp.Packet{Header: h.Clone(), Payload: slices.Clone(payload)})
		s.mu.Unlock()
	}
	return len(payload), nil
}

func (s *sink) seqs() []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint16
	for _, p := range s.pkts {
		out = append(out, p.SequenceNumber)
	}
	return out
}

func (s *sink) reset() {
	s.mu.Lock()
	s.pkts = nil
	s.mu.Unlock()
}

// fakeNow is a settable clock for the responder.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeNow) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testSSRC = 0x1234

type nackRig struct {
	r     *nackResponder
	w     interceptor.RTPWriter
	below *sink
	clock *fakeNow
	info  *interceptor.StreamInfo
	hdr   rtp.Header
}

func newNACKRig(t testing.TB, slots int) *nackRig {
	t.Helper()
	f := newNACKResponder(slots, DefaultMTU, DefaultNACKMaxAge)
	clock := &fakeNow{t: time.Unix(1000, 0)}
	f.now = clock.now
	i, err := f.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	g := &nackRig{r: i.(*nackResponder), below: &sink{keep: true}, clock: clock,
		info: &interceptor.StreamInfo{SSRC: testSSRC, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}},
		hdr:  rtp.Header{Version: 2, PayloadType: 102, SSRC: testSSRC}}
	g.w = g.r.BindLocalStream(g.info, g.below)
	if _, ok := g.w.(*nackStream); !ok {
		t.Fatalf("BindLocalStream did not wrap the writer: %T", g.w)
	}
	return g
}

func payloadOf(seq uint16) []byte { return bytes.Repeat([]byte{byte(seq), byte(seq >> 8)}, 300) }

// send writes packets seq from..to (inclusive, wrapping) through the
// responder.
func (g *nackRig) send(t testing.TB, from uint16, n int) {
	t.Helper()
	for i := range n {
		seq := from + uint16(i)
		g.hdr.SequenceNumber, g.hdr.Timestamp, g.hdr.Marker = seq, uint32(seq)*3000, seq%3 == 0
		if _, err := g.w.Write(&g.hdr, payloadOf(seq), nil); err != nil {
			t.Fatal(err)
		}
	}
}

// nack has the responder handle a Generic NACK for seqs, as pion's
// receiver builds it (rtcp.NackPairsFromSequenceNumbers), and returns the
// sequence numbers re-sent.
func (g *nackRig) nack(t testing.TB, ssrc uint32, seqs ...uint16) []uint16 {
	t.Helper()
	g.below.reset()
	g.r.handleRTCP(mustMarshal(t, tln(ssrc, rtcp.NackPairsFromSequenceNumbers(seqs)...)))
	got := g.below.seqs()
	g.below.mu.Lock()
	for _, p := range g.below.pkts {
		if p.SSRC != testSSRC || p.PayloadType != 102 || p.Timestamp != uint32(p.SequenceNumber)*3000 ||
			p.Marker != (p.SequenceNumber%3 == 0) || !bytes.Equal(p.Payload, payloadOf(p.SequenceNumber)) {
			t.Errorf("re-sent packet %d differs from the one sent: %+v", p.SequenceNumber, p.Header)
		}
	}
	g.below.mu.Unlock()
	return got
}

func TestNACKResend(t *testing.T) {
	g := newNACKRig(t, 16)
	g.send(t, 100, 10)
	if got := g.nack(t, testSSRC, 103, 104, 106); !slices.Equal(got, []uint16{103, 104, 106}) {
		t.Fatalf("re-sent %v", got)
	}
	if got := g.nack(t, testSSRC+1, 103); len(got) != 0 {
		t.Fatalf("NACK for another SSRC re-sent %v", got)
	}
	if got := g.nack(t, testSSRC, 99, 110, 5000); len(got) != 0 {
		t.Fatalf("never-sent packets re-sent: %v", got)
	}
	// A packet of another SSRC (e.g. RTX, probing) is passed on, not kept.
	h := rtp.Header{Version: 2, SSRC: 99, SequenceNumber: 200}
	if _, err := g.w.Write(&h, []byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	if got := g.nack(t, testSSRC, 200); len(got) != 0 {
		t.Fatalf("packet of another SSRC re-sent: %v", got)
	}
	if got := g.nack(t, 99, 200); len(got) != 0 {
		t.Fatalf("packet of another SSRC re-sent: %v", got)
	}
}

func TestNACKRingWraparound(t *testing.T) {
	g := newNACKRig(t, 16)
	g.send(t, 65530, 40) // 65530..65535, 0..33: the ring holds 18..33
	if got := g.nack(t, testSSRC, 65530, 65535, 0, 17); len(got) != 0 {
		t.Fatalf("overwritten packets re-sent: %v", got)
	}
	if got := g.nack(t, testSSRC, 18, 25, 33); !slices.Equal(got, []uint16{18, 25, 33}) {
		t.Fatalf("re-sent %v", got)
	}
	// Across the 16-bit wrap: 65534..65535, 0..13 in a 16-slot ring.
	g = newNACKRig(t, 16)
	g.send(t, 65534, 16)
	want := []uint16{65534, 65535, 0, 1, 13}
	if got := g.nack(t, testSSRC, want...); !slices.Equal(got, want) {
		t.Fatalf("across the wrap: re-sent %v, want %v", got, want)
	}
}

func TestNACKAgeAndResendLimits(t *testing.T) {
	g := newNACKRig(t, 64)
	g.send(t, 1, 1)
	g.clock.add(DefaultNACKMaxAge / 2)
	g.send(t, 2, 1)
	g.clock.add(DefaultNACKMaxAge / 2)
	if got := g.nack(t, testSSRC, 1, 2); !slices.Equal(got, []uint16{1, 2}) {
		t.Fatalf("at the age limit: re-sent %v", got)
	}
	g.clock.add(time.Nanosecond + nackResendGap)
	if got := g.nack(t, testSSRC, 1, 2); !slices.Equal(got, []uint16{2}) {
		t.Fatalf("just past the age limit of 1: re-sent %v, want [2]", got)
	}
	// Duplicate NACKs within the gap are answered once; each packet at
	// most nackMaxResends times in all.
	g.send(t, 3, 1)
	n := 0
	for range 10 {
		n += len(g.nack(t, testSSRC, 3))
		n += len(g.nack(t, testSSRC, 3))
		g.clock.add(nackResendGap)
	}
	if n != nackMaxResends {
		t.Fatalf("packet re-sent %d times, want %d", n, nackMaxResends)
	}
	// Sending the sequence number again (a new packet) resets it.
	g.send(t, 3, 1)
	if got := g.nack(t, testSSRC, 3); !slices.Equal(got, []uint16{3}) {
		t.Fatalf("re-sent %v", got)
	}
}

func TestNACKUnbindAndClose(t *testing.T) {
	g := newNACKRig(t, 16)
	g.send(t, 1, 5)
	g.r.UnbindLocalStream(g.info)
	if got := g.nack(t, testSSRC, 1, 2, 3); len(got) != 0 {
		t.Fatalf("re-sent after unbind: %v", got)
	}
	g.send(t, 6, 5) // still passed on, not kept
	if n := len(g.below.seqs()); n != 5 {
		t.Fatalf("%d packets passed on after unbind, want 5", n)
	}
	st := g.w.(*nackStream)
	if st.slab != nil || st.meta != nil {
		t.Fatal("ring not dropped")
	}
	if got := g.nack(t, testSSRC, 6, 7); len(got) != 0 {
		t.Fatalf("re-sent after unbind: %v", got)
	}

	g = newNACKRig(t, 16)
	g.send(t, 1, 5)
	if err := g.r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := g.nack(t, testSSRC, 1, 2, 3); len(got) != 0 {
		t.Fatalf("re-sent after Close: %v", got)
	}
	// A stream bound after Close is not kept at all.
	if w := g.r.BindLocalStream(g.info, g.below); w != interceptor.RTPWriter(g.below) {
		t.Fatalf("bound after Close: %T", w)
	}
}

func TestNACKNotNegotiated(t *testing.T) {
	f := newNACKResponder(16, DefaultMTU, DefaultNACKMaxAge)
	i, _ := f.NewInterceptor("")
	below := &sink{}
	for _, fb := range [][]interceptor.RTCPFeedback{nil, {{Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}} {
		info := &interceptor.StreamInfo{SSRC: 1, RTCPFeedback: fb}
		if w := i.BindLocalStream(info, below); w != interceptor.RTPWriter(below) {
			t.Fatalf("feedback %v: writer wrapped (%T)", fb, w)
		}
	}
}

// TestNACKTooBig: a packet that does not fit a slot is passed on, not
// kept, and does not leave an older packet of the same slot behind.
func TestNACKTooBig(t *testing.T) {
	g := newNACKRig(t, 16)
	g.send(t, 1, 1)
	h := rtp.Header{Version: 2, SSRC: testSSRC, SequenceNumber: 17}
	if _, err := g.w.Write(&h, make([]byte, DefaultMTU+rtpHeaderRoom), nil); err != nil {
		t.Fatal(err)
	}
	if got := g.nack(t, testSSRC, 1, 17); len(got) != 0 {
		t.Fatalf("re-sent %v", got)
	}
}

// TestNACKRTCPReader: the bound RTCP reader passes every batch on
// unchanged and answers the NACKs in it.
func TestNACKRTCPReader(t *testing.T) {
	g := newNACKRig(t, 16)
	g.send(t, 1, 5)
	in := mustMarshal(t, &rtcp.ReceiverReport{SSRC: 1}, tln(testSSRC, rtcp.NackPair{PacketID: 2, LostPackets: 1}))
	attrs := interceptor.Attributes{"k": "v"}
	rd := g.r.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, in), a, nil
	}))
	g.below.reset()
	buf := make([]byte, 1500)
	n, a, err := rd.Read(buf, attrs)
	if err != nil || n != len(in) || !bytes.Equal(buf[:n], in) || a["k"] != "v" || len(a) != 1 {
		t.Fatalf("Read: %d %v %v", n, a, err)
	}
	if got := g.below.seqs(); !slices.Equal(got, []uint16{2, 3}) {
		t.Fatalf("re-sent %v", got)
	}
	// Errors and garbage pass through untouched.
	bad := interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, []byte{0xff, 0xff, 0xff}), a, fmt.Errorf("boom")
	})
	if n, _, err := g.r.BindRTCPReader(bad).Read(buf, nil); n != 3 || err == nil {
		t.Fatalf("error not passed on: %d %v", n, err)
	}
}

// TestNACKConcurrent: the sender writes while NACKs are answered on
// another goroutine and the stream is unbound at the end (run with -race).
func TestNACKConcurrent(t *testing.T) {
	f := newNACKResponder(64, DefaultMTU, DefaultNACKMaxAge)
	i, _ := f.NewInterceptor("")
	r := i.(*nackResponder)
	below := &sink{}
	info := &interceptor.StreamInfo{SSRC: testSSRC, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
	w := r.BindLocalStream(info, below)
	var seq atomic.Uint32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		h := rtp.Header{Version: 2, SSRC: testSSRC}
		p := make([]byte, 1000)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.SequenceNumber = uint16(i)
			_, _ = w.Write(&h, p, nil)
			seq.Store(uint32(i))
		}
	})
	var resent atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := uint16(seq.Load())
				b, _ := rtcp.Marshal([]rtcp.Packet{tln(testSSRC, rtcp.NackPair{PacketID: s - 20, LostPackets: 0xffff})})
				resent.Add(int64(r.handleRTCP(b)))
			}
		})
	}
	// Unbind while the NACK handlers are mid-flight: once some NACK has
	// been answered, the writer and both handlers are running.
	for resent.Load() == 0 {
		runtime.Gosched()
	}
	r.UnbindLocalStream(info)
	close(stop)
	wg.Wait()
	if resent.Load() == 0 {
		t.Fatal("nothing re-sent: the test exercised nothing")
	}
	t.Logf("%d packets written, %d re-sent", seq.Load()+1, resent.Load())
	if n := r.handleRTCP(mustMarshal(t, tln(testSSRC, rtcp.NackPair{PacketID: uint16(seq.Load())}))); n != 0 {
		t.Fatalf("re-sent %d after unbind", n)
	}
}

// TestNACKAllocs: keeping a copy of each packet and answering a NACK
// allocate nothing (the ring is allocated once, on the first packet).
func TestNACKAllocs(t *testing.T) {
	g := newNACKRig(t, nackBufferSize)
	g.below.keep = false
	g.send(t, 0, 1) // allocates the ring
	seq := uint16(1)
	payload := make([]byte, DefaultMTU, DefaultNACKMaxAge)
	a := testing.AllocsPerRun(1000, func() {
		g.hdr.SequenceNumber = seq
		seq++
		_, _ = g.w.Write(&g.hdr, payload, nil)
	})
	if a != 0 {
		t.Errorf("Write: %v allocations per packet, want 0", a)
	}

	// Each run NACKs a different packet (each may be re-sent only a few
	// times), through the bound RTCP reader as pion calls it.
	in := mustMarshal(t, &rtcp.ReceiverReport{SSRC: 1},
		tln(testSSRC, rtcp.NackPair{PacketID: 0, LostPackets: 0b11}))
	rd := g.r.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, in), a, nil
	}))
	pid := len(in) - 4
	buf := make([]byte, 1500)
	next := seq - nackBufferSize + 1
	before := g.below.count.Load()
	runs := 100
	a = testing.AllocsPerRun(runs, func() {
		binary.BigEndian.PutUint16(in[pid:], next)
		next += 3
		if _, _, err := rd.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	})
	if sent := g.below.count.Load() - before; sent != int64(3*(runs+1)) {
		t.Fatalf("%d packets re-sent in %d NACKs, want %d", sent, runs+1, 3*(runs+1))
	}
	if a != 0 {
		t.Errorf("handling a NACK for 3 packets: %v allocations, want 0", a)
	}
}

// Config.NACKMaxAge: 0 is the production default, a negative or longer
// than a minute limit is refused with a clear error.
func TestNACKMaxAgeConfig(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
		err      bool
	}{{0, DefaultNACKMaxAge, false}, {time.Minute, time.Minute, false}, {-time.Second, 0, true}, {time.Minute + 1, 0, true}} {
		c := Config{NACKMaxAge: tc.in}
		err := c.defaults()
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "NACKMaxAge") {
				t.Errorf("NACKMaxAge %v: %v, want an error naming it", tc.in, err)
			}
			continue
		}
		if err != nil || c.NACKMaxAge != tc.want {
			t.Errorf("NACKMaxAge %v: %v, %v; want %v", tc.in, c.NACKMaxAge, err, tc.want)
		}
	}
}
