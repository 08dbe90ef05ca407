// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/rtph264"
)

// fakePipe stands in for the pipeline: live, no error.
type fakePipe struct {
	live  atomic.Bool
	keys  atomic.Int32
	added atomic.Int32
}

func (p *fakePipe) Add(pipeline.Output)    { p.added.Add(1) }
func (p *fakePipe) Remove(pipeline.Output) { p.added.Add(-1) }
func (p *fakePipe) Live() bool             { return p.live.Load() }
func (p *fakePipe) Err() string            { return "" }
func (p *fakePipe) RequestKeyframe()       { p.keys.Add(1) }

// fakeNode is the agent: privacy flag and the audit records.
type fakeNode struct {
	private   atomic.Bool
	refreshes atomic.Int32 // Refresh calls (status republished)
	mu        sync.Mutex
	recs      []agent.AuditRecord
	got       chan agent.AuditRecord
	fail      error // the auditor's error, if set
}

func newFakeNode() *fakeNode { return &fakeNode{got: make(chan agent.AuditRecord, 64)} }

func (n *fakeNode) Status() agent.Status {
	p := n.private.Load()
	c := "streaming"
	if p {
		c = "off"
	}
	return agent.Status{Privacy: p, Recording: !p, Capture: c}
}

func (n *fakeNode) Refresh() { n.refreshes.Add(1) }

func (n *fakeNode) Record(r agent.AuditRecord) error {
	n.mu.Lock()
	if err := n.fail; err != nil {
		n.mu.Unlock()
		return err
	}
	n.recs = append(n.recs, r)
	n.mu.Unlock()
	n.got <- r
	return nil
}

// failAudit makes the auditor fail (nil: succeed again).
func (n *fakeNode) failAudit(err error) {
	n.mu.Lock()
	n.fail = err
	n.mu.Unlock()
}

// records returns the audit records so far.
func (n *fakeNode) records() []agent.AuditRecord {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]agent.AuditRecord(nil), n.recs...)
}

// waitRecord returns the next audit record (or fails after a generous
// deadline, never to synchronise).
func (n *fakeNode) waitRecord(t *testing.T) agent.AuditRecord {
	t.Helper()
	select {
	case r := <-n.got:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no audit record")
		return agent.AuditRecord{}
	}
}

// Test SPS (baseline, from gortsplib's tests) and PPS.
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03,
		0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

// stampLen is the length of the stamp "S%08x" after a test slice's NAL
// header.
const stampLen = 9

// testAU is access unit seq: a slice of n bytes whose payload starts with
// the stamp "S<seq in hex>", an IDR (after SPS and PPS) when key.
func testAU(seq uint32, n int, key bool) *pipeline.AU {
	typ := byte(1)
	if key {
		typ = 5
	}
	nal := rtph264.TestNAL(typ, n)
	copy(nal[1:], fmt.Sprintf("S%08x", seq))
	var data []byte
	if key {
		data = rtph264.AnnexB(testSPS, testPPS, nal)
	} else {
		data = rtph264.AnnexB(nal)
	}
	return &pipeline.AU{Data: data, Seq: uint64(seq), Key: key, Time: time.Unix(1700000000, 0).Add(time.Duration(seq) * 33 * time.Millisecond)}
}

// stampOf reads the stamp of an RTP payload that starts a slice, or false.
func stampOf(payload []byte) (uint32, bool) {
	if len(payload) < 1+stampLen {
		return 0, false
	}
	switch payload[0] & 0x1f {
	case 1, 5:
	case 28: // FU-A start
		if payload[1]&0x80 == 0 || len(payload) < 2+stampLen {
			return 0, false
		}
		payload = payload[1:]
	default:
		return 0, false
	}
	var v uint32
	if _, err := fmt.Sscanf(string(payload[1:1+stampLen]), "S%08x", &v); err != nil {
		return 0, false
	}
	return v, true
}

// feeder is the pipeline goroutine of a test: it writes stamped access
// units (an IDR every keyEvery) until stopped. Stop returns once no
// WriteAU is in progress, as the pipeline's epoch guarantees for a Cut.
type feeder struct {
	stop chan struct{}
	done chan struct{}
	next atomic.Uint32
}

func startFeeder(s *Server, size, keyEvery int) *feeder {
	f := &feeder{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for seq := uint32(0); ; seq++ {
			select {
			case <-f.stop:
				return
			default:
			}
			s.WriteAU(testAU(seq, size, seq%uint32(keyEvery) == 0))
			f.next.Store(seq + 1)
			time.Sleep(time.Millisecond) // pacing only (a 2-core box), not synchronisation
		}
	}()
	return f
}

func (f *feeder) Stop() uint32 {
	close(f.stop)
	<-f.done
	return f.next.Load()
}

// testServer is a recorder stream on loopback with a throwaway PKI: the
// recorder "nvr" by client certificate (CN "nvr-cert"), "vms" by Digest
// (password "secret").
type testServer struct {
	s    *Server
	pipe *fakePipe
	node *fakeNode
	pki  *mqtttest.PKI
	addr string
}

const vmsPassword = "secret"

func newTestServer(t testing.TB, plain bool) *testServer {
	t.Helper()
	pki := mqtttest.NewPKI(t)
	var tc *tls.Config
	recs := []Access{{Name: "vms", DigestHA1: md5hex("vms:" + Realm + ":" + vmsPassword)}}
	if !plain {
		cert, key := pki.Issue(t, "node", true)
		var err error
		if tc, err = TLSConfig(cert, key, pki.CAFile()); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, Access{Name: "nvr", CertName: "nvr-cert"})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{pipe: &fakePipe{}, node: newFakeNode(), pki: pki, addr: ln.Addr().String()}
	ts.pipe.live.Store(true)
	ts.s, err = New(Config{Listener: ln, TLS: tc, Recorders: recs, Pipeline: ts.pipe, MaxSessions: 8,
		WriteTimeout: 10 * time.Minute}) // the stalled reader must not be dropped by a timeout first
	if err != nil {
		t.Fatal(err)
	}
	ts.s.SetNode(ts.node)
	t.Cleanup(func() { _ = ts.s.Close() })
	return ts
}

// clientTLS is a client configuration trusting the test CA, with the
// client certificate cn if not "".
func (ts *testServer) clientTLS(t testing.TB, cn string) *tls.Config {
	t.Helper()
	c := &tls.Config{ServerName: "127.0.0.1", RootCAs: caPool(t, ts.pki.CAFile())}
	if cn != "" {
		cert, key := ts.pki.Issue(t, cn, false)
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c
}

func caPool(t testing.TB, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in " + file)
	}
	return p
}
