// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/pipeline"
)

// pushHub is the hub's publish endpoint in these tests: gortsplib's own
// server on 127.0.0.1 (plain RTSP, the node uses push_insecure_plain),
// accepting ANNOUNCE/SETUP/RECORD on any path.
type pushHub struct {
	srv     *gortsplib.Server
	conns   atomic.Int32
	paths   chan string   // ANNOUNCE paths
	packets chan struct{} // one per RTP packet received (dropped when full)
}

func newPushHub(t *testing.T) (*pushHub, string) {
	t.Helper()
	h := &pushHub{paths: make(chan string, 16), packets: make(chan struct{}, 1)}
	var addr string
	h.srv = &gortsplib.Server{Handler: h, RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err == nil {
				addr = l.Addr().String()
			}
			return l, err
		}}
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.srv.Close)
	return h, addr
}

func (h *pushHub) OnConnOpen(*gortsplib.ServerHandlerOnConnOpenCtx) { h.conns.Add(1) }

func (h *pushHub) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	select {
	case h.paths <- ctx.Path:
	default:
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *pushHub) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (h *pushHub) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) {
		select {
		case h.packets <- struct{}{}:
		default:
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// TestRunPushZone: a push-only node ([recorder] push, no listen: no port
// of its own) publishes its stream to the hub once privacy is off, shows
// it in its status, is cut by privacy on before the acknowledgement, and
// audits the session; a clinical-zone node with the same configuration
// never connects to the hub (invariant 3: no publisher at all).
func TestRunPushZone(t *testing.T) {
	if !pipeline.HaveEncoder {
		t.Skip("no H.264 encoder in this build")
	}
	for _, tc := range []struct {
		zone    string
		publish bool
	}{{"waiting", true}, {"consulting", false}} {
		t.Run(tc.zone, func(t *testing.T) {
			hub, addr := newPushHub(t)
			dir := t.TempDir()
			cfgPath, sock := writeNode(t, dir, tc.zone, "Room")
			f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(f, "\n[recorder]\npush = %q\npush_insecure_plain = true\n", "rtsp://"+addr+"/node-7")
			f.Close()
			notes, stop := startRun(t, cfgPath)
			waitNote(t, notes, "READY=1")
			out, code := privacyCmd(t, sock, "off")
			if tc.publish {
				if code != 0 {
					t.Fatalf("privacy off: exit %d\n%s", code, out)
				}
				select {
				case p := <-hub.paths:
					if p != "/node-7" {
						t.Errorf("announced path %q, want /node-7", p)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the node never announced its stream to the hub")
				}
				select {
				case <-hub.packets:
				case <-time.After(30 * time.Second):
					t.Fatal("the hub never received a packet")
				}
				// The node's status says so (camnode privacy status).
				for deadline := time.Now().Add(30 * time.Second); ; {
					out, _ := privacyCmd(t, sock, "status")
					if strings.Contains(out, "push      connected, recording at rtsp://"+addr+"/node-7") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("status never shows the push connected:\n%s", out)
					}
					time.Sleep(50 * time.Millisecond) // polling a condition, not synchronising on time
				}
				// Privacy on cuts the push before it is acknowledged: the
				// answer's status already shows it disconnected.
				out, code = privacyCmd(t, sock, "on")
				if code != 0 || !strings.Contains(out, "push      not connected to rtsp://"+addr+"/node-7") {
					t.Fatalf("privacy on: exit %d, push not cut before the acknowledgement:\n%s", code, out)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			// The run has returned: every output is closed, so no
			// connection can come later.
			if n := hub.conns.Load(); (n > 0) != tc.publish {
				t.Errorf("zone %s: %d connection(s) to the hub, want publishing %v", tc.zone, n, tc.publish)
			}
			audit, err := os.ReadFile(filepath.Join(dir, "state", "audit.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(audit), `"source":"push"`); got != tc.publish {
				t.Errorf("zone %s: push session audited %v, want %v\n%s", tc.zone, got, tc.publish, audit)
			}
			if tc.publish && !strings.Contains(string(audit), `"ended":"privacy"`) {
				t.Errorf("the push session's audit record does not say privacy ended it:\n%s", audit)
			}
		})
	}
}

// TestPushOnlyOpensNoPort: with push alone ([recorder] push, no listen)
// the node builds no RTSP server: a node that may open no port opens none.
func TestPushOnlyOpensNoPort(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	pipe, err := pipeline.New(pipeline.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	c := config.Default().Recorder
	c.Push, c.PushInsecurePlain = "rtsp://127.0.0.1:8554/node-7", true
	rec, err := newRecorder(c, pipe, log)
	if err != nil || rec != nil {
		rec.close()
		t.Fatalf("push only: recorder server %v, %v; want none", rec, err)
	}
}
