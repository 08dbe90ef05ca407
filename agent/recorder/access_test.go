// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// describe runs DESCRIBE with gortsplib's client (a real client: it
// answers the Digest challenge from the URL's user and password).
func describe(t testing.TB, scheme, addr, userinfo string, tc *tls.Config) (*description.Session, error) {
	t.Helper()
	u, err := base.ParseURL(scheme + "://" + userinfo + addr + Path)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, TLSConfig: tc, Transport: &tcp}
	if err := c.Start2(); err != nil {
		return nil, err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	return desc, err
}

func statusOf(err error) base.StatusCode {
	var bs liberrors.ErrClientBadStatusCode
	if errors.As(err, &bs) {
		return bs.Code
	}
	return 0
}

// TestAccess: named recorders only, each refusal with its RTSP status.
func TestAccess(t *testing.T) {
	ts := newTestServer(t, false)
	f := startFeeder(ts.s, 500, 10)
	defer f.Stop()
	other := mqtttest.NewPKI(t) // a CA that is not the site's
	wrongCA := &tls.Config{ServerName: "127.0.0.1", RootCAs: caPool(t, ts.pki.CAFile())}
	wc, wk := other.Issue(t, "nvr-cert", false)
	kp, err := tls.LoadX509KeyPair(wc, wk)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA.Certificates = []tls.Certificate{kp}

	for _, tc := range []struct {
		name     string
		scheme   string
		userinfo string
		tls      *tls.Config
		code     base.StatusCode // 0: a TLS or protocol failure; 200: played
		msg      string
	}{
		{"pinned client certificate", "rtsps", "", ts.clientTLS(t, "nvr-cert"), 200, ""},
		{"digest", "rtsps", "vms:" + vmsPassword + "@", ts.clientTLS(t, ""), 200, ""},
		{"no credentials", "rtsps", "", ts.clientTLS(t, ""), base.StatusUnauthorized, "credentials required"},
		{"wrong password", "rtsps", "vms:nope@", ts.clientTLS(t, ""), base.StatusUnauthorized, "wrong user name or password"},
		{"unknown recorder", "rtsps", "nobody:" + vmsPassword + "@", ts.clientTLS(t, ""), base.StatusUnauthorized, "wrong user name or password"},
		{"site certificate, name not pinned", "rtsps", "", ts.clientTLS(t, "laptop"), base.StatusForbidden, `client certificate "laptop" is not a configured recorder`},
		{"certificate from another CA", "rtsps", "", wrongCA, 0, ""},
		{"plain RTSP to the TLS port", "rtsp", "vms:" + vmsPassword + "@", nil, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desc, err := describe(t, tc.scheme, ts.addr, tc.userinfo, tc.tls)
			switch tc.code {
			case 200:
				if err != nil {
					t.Fatal(err)
				}
				if len(desc.Medias) != 1 || desc.Medias[0].Type != description.MediaTypeVideo ||
					len(desc.Medias[0].Formats) != 1 || desc.Medias[0].Formats[0].Codec() != "H264" {
					t.Fatalf("SDP: %+v, want one H.264 video track and nothing else", desc.Medias)
				}
			case 0:
				if err == nil || statusOf(err) != 0 {
					t.Fatalf("err %v, want a failed handshake", err)
				}
			default:
				if statusOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err %v, want %d %q", err, tc.code, tc.msg)
				}
			}
		})
	}
	t.Run("wrong path", func(t *testing.T) {
		u, _ := base.ParseURL("rtsps://vms:" + vmsPassword + "@" + ts.addr + "/other")
		tcp := gortsplib.TransportTCP
		c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, TLSConfig: ts.clientTLS(t, ""), Transport: &tcp}
		if err := c.Start2(); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.Describe(u); statusOf(err) != base.StatusNotFound {
			t.Fatalf("err %v, want 404", err)
		}
	})
	t.Run("udp refused", func(t *testing.T) {
		c := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
		if res := c.do(t, base.Describe, c.url, nil); res.StatusCode != base.StatusOK {
			t.Fatalf("DESCRIBE %d", res.StatusCode)
		}
		res := c.do(t, base.Setup, c.url+"/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP;unicast;client_port=5000-5001"}})
		if res.StatusCode != base.StatusUnsupportedTransport {
			t.Fatalf("SETUP over UDP: %d %s, want 461", res.StatusCode, res.StatusMessage)
		}
	})
}

// TestBasic: Basic is accepted over TLS (against the HA1) and refused
// with 403 over plain RTSP.
func TestBasic(t *testing.T) {
	basic := base.Header{"Authorization": base.HeaderValue{"Basic " + base64.StdEncoding.EncodeToString([]byte("vms:"+vmsPassword))}}
	for _, plain := range []bool{false, true} {
		ts := newTestServer(t, plain)
		f := startFeeder(ts.s, 500, 10)
		var c *rawClient
		if plain {
			c = dialRaw(t, ts.addr, nil)
		} else {
			c = dialRaw(t, ts.addr, ts.clientTLS(t, ""))
		}
		res := c.do(t, base.Describe, c.url, cloneHeader(basic))
		f.Stop()
		want := base.StatusOK
		if plain {
			want = base.StatusForbidden
		}
		if res.StatusCode != want {
			t.Fatalf("plain %v: Basic got %d %s, want %d", plain, res.StatusCode, res.StatusMessage, want)
		}
	}
}

// TestRateLimit: failures from one address drain its bucket (then 403,
// not a new challenge), but the right credentials are still accepted.
func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, false)
	f := startFeeder(ts.s, 500, 10)
	defer f.Stop()
	for i := range 5 {
		if _, err := describe(t, "rtsps", ts.addr, "vms:wrong@", ts.clientTLS(t, "")); statusOf(err) != base.StatusUnauthorized {
			t.Fatalf("attempt %d: %v, want 401", i, err)
		}
	}
	_, err := describe(t, "rtsps", ts.addr, "vms:wrong@", ts.clientTLS(t, ""))
	if statusOf(err) != base.StatusForbidden || !strings.Contains(err.Error(), "too many failed attempts") {
		t.Fatalf("sixth failure: %v, want 403 too many failed attempts", err)
	}
	if _, err := describe(t, "rtsps", ts.addr, "vms:"+vmsPassword+"@", ts.clientTLS(t, "")); err != nil {
		t.Fatalf("right password from a throttled address: %v", err)
	}
	if _, err := describe(t, "rtsps", ts.addr, "", ts.clientTLS(t, "nvr-cert")); err != nil {
		t.Fatalf("pinned certificate from a throttled address: %v", err)
	}
}

// TestPrivateRefused: while private, DESCRIBE, SETUP and PLAY each get
// 503 "privacy is on"; after privacy off, the same recorder plays again.
func TestPrivateRefused(t *testing.T) {
	ts := newTestServer(t, false)
	f0 := startFeeder(ts.s, 500, 10)
	c := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
	if res := c.do(t, base.Describe, c.url, nil); res.StatusCode != base.StatusOK {
		t.Fatalf("DESCRIBE %d", res.StatusCode)
	}
	transport := base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}}
	ts.node.private.Store(true)
	if res := c.do(t, base.Setup, c.url+"/trackID=0", cloneHeader(transport)); res.StatusCode != base.StatusServiceUnavailable ||
		res.StatusMessage != "privacy is on" {
		t.Fatalf("SETUP while private: %d %q", res.StatusCode, res.StatusMessage)
	}
	ts.node.private.Store(false)
	res := c.do(t, base.Setup, c.url+"/trackID=0", cloneHeader(transport))
	if res.StatusCode != base.StatusOK {
		t.Fatalf("SETUP %d %s", res.StatusCode, res.StatusMessage)
	}
	c.sess = strings.Split(res.Header["Session"][0], ";")[0]
	ts.node.private.Store(true)
	if res := c.do(t, base.Play, c.url, nil); res.StatusCode != base.StatusServiceUnavailable || res.StatusMessage != "privacy is on" {
		t.Fatalf("PLAY while private: %d %q", res.StatusCode, res.StatusMessage)
	}
	if n := ts.s.Sessions(); n != 0 {
		t.Fatalf("%d sessions after a refused PLAY", n)
	}
	f0.Stop()
	_, err := describe(t, "rtsps", ts.addr, "", ts.clientTLS(t, "nvr-cert"))
	if statusOf(err) != base.StatusServiceUnavailable || !strings.Contains(err.Error(), "privacy is on") {
		t.Fatalf("DESCRIBE while private: %v, want 503 privacy is on", err)
	}
	ts.node.private.Store(false)
	f := startFeeder(ts.s, 500, 10)
	defer f.Stop()
	if _, err := describe(t, "rtsps", ts.addr, "", ts.clientTLS(t, "nvr-cert")); err != nil {
		t.Fatal(err)
	}
}

// TestSessionAudited: a session that plays and ends is two audit records
// with the same session id: its start, on the trail before PLAY is
// answered (so before any frame is sent), and its end: recorder, remote,
// start, end, frames, bytes, why.
// Opening and ending it each ask the node to republish its status
// (recorder_sessions).
func TestSessionAudited(t *testing.T) {
	ts := newTestServer(t, false)
	f := startFeeder(ts.s, 500, 10)
	defer f.Stop()
	c := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
	c.play(t, nil)
	recs := ts.node.records()
	if len(recs) != 1 || recs[0].Kind != "recording_start" || recs[0].View == nil {
		t.Fatalf("audit records when PLAY was answered: %+v, want the session's start", recs)
	}
	start := ts.node.waitRecord(t)
	for got := 0; got < 5; {
		fr, err := c.frame()
		if err != nil {
			t.Fatal(err)
		}
		if fr.Channel == 0 {
			got++
		}
	}
	if n := ts.s.Sessions(); n != 1 || ts.s.RecorderSessions() != 1 {
		t.Fatalf("%d sessions", n)
	}
	if n := ts.node.refreshes.Load(); n != 1 {
		t.Fatalf("session opened: %d status refreshes, want 1", n)
	}
	c.conn.Close()
	rec := ts.node.waitRecord(t)
	if n := ts.node.refreshes.Load(); n != 2 {
		t.Fatalf("session ended: %d status refreshes, want 2", n)
	}
	v := rec.View
	if rec.Kind != "recording" || rec.Source != Source || rec.Actor != "nvr" || v == nil || v.Role != "recorder" ||
		!strings.HasPrefix(v.Remote, "127.0.0.1:") || v.Frames == 0 || v.Bytes == 0 || v.Ended == "" ||
		v.Start.IsZero() || v.End.Before(v.Start) {
		t.Fatalf("audit record %+v %+v", rec, v)
	}
	if s := start.View; start.Actor != rec.Actor || start.Source != rec.Source || s.Session != v.Session || s.Session == "" ||
		!s.Start.Equal(v.Start) || s.Remote != v.Remote || s.Role != v.Role || s.Frames != 0 || s.Ended != "" || !s.End.IsZero() {
		t.Fatalf("start record %+v %+v does not pair with the end record %+v", start, s, v)
	}
	for _, r := range []agent.AuditRecord{start, rec} {
		if err := r.CheckSession(); err != nil {
			t.Errorf("%s record: %v", r.Kind, err)
		}
	}
}

// TestUnauditedSessionRefused: an auditor that cannot record a session's
// start refuses its PLAY (503 with the reason) and nothing is sent; once
// it works again, the recorder plays.
func TestUnauditedSessionRefused(t *testing.T) {
	ts := newTestServer(t, false)
	f := startFeeder(ts.s, 500, 10)
	defer f.Stop()
	ts.node.failAudit(errors.New("disk full"))
	c := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
	if res := c.do(t, base.Describe, c.url, nil); res.StatusCode != base.StatusOK {
		t.Fatalf("DESCRIBE %d", res.StatusCode)
	}
	res := c.do(t, base.Setup, c.url+"/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}})
	if res.StatusCode != base.StatusOK {
		t.Fatalf("SETUP %d %s", res.StatusCode, res.StatusMessage)
	}
	c.sess = strings.Split(res.Header["Session"][0], ";")[0]
	res = c.do(t, base.Play, c.url, nil)
	if res.StatusCode != base.StatusServiceUnavailable || !strings.Contains(res.StatusMessage, "audit trail cannot record") ||
		!strings.Contains(res.StatusMessage, "disk full") {
		t.Fatalf("PLAY with a failing auditor: %d %q, want 503 with the reason", res.StatusCode, res.StatusMessage)
	}
	if n := ts.s.Sessions(); n != 0 {
		t.Fatalf("%d sessions after the refusal", n)
	}
	// Nothing is sent: the next thing on the connection is the answer to
	// the next request, not a frame.
	ts.node.failAudit(nil)
	res = c.do(t, base.Options, c.url, nil)
	if res.StatusCode != base.StatusOK {
		t.Fatalf("OPTIONS after the refusal: %d %s", res.StatusCode, res.StatusMessage)
	}
	if c.br.Buffered() != 0 {
		t.Fatalf("%d bytes after the OPTIONS answer on a refused session", c.br.Buffered())
	}
	c2 := dialRaw(t, ts.addr, ts.clientTLS(t, "nvr-cert"))
	c2.play(t, nil)
	if rec := ts.node.waitRecord(t); rec.Kind != "recording_start" {
		t.Fatalf("after the auditor recovered: %+v, want a start record", rec)
	}
}
