// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio/gpiotest"
)

// startControl runs an agent (real time, fakes) with its control socket.
func startControl(t *testing.T, id firmware.Identity) (string, *Agent) {
	t.Helper()
	dir := t.TempDir()
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: 64, Height: 48, Pixel: capture.I420, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Identity: id, StatePath: filepath.Join(dir, "p.json")},
		Deps{LED: &gpiotest.LED{}, Shutter: &gpiotest.Shutter{}, Camera: cam})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "c.sock")
	ln, err := ListenControl(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone, ctlDone := make(chan error, 1), make(chan error, 1)
	go func() { runDone <- a.Run(ctx) }()
	go func() { ctlDone <- a.ServeControl(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := <-ctlDone; err != nil {
			t.Errorf("ServeControl: %v", err)
		}
	})
	return sock, a
}

func ctl(t *testing.T, sock string, req ControlRequest) ControlResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := Control(ctx, sock, req)
	if err != nil {
		t.Fatalf("Control(%+v): %v", req, err)
	}
	return resp
}

func TestControlPrivacy(t *testing.T) {
	sock, a := startControl(t, testIdentity("reception", "Front desk"))
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode = %v, %v; want 0660", fi.Mode().Perm(), err)
	}
	if r := ctl(t, sock, ControlRequest{Op: "status"}); !r.OK || r.Status == nil || !r.Status.Privacy {
		t.Fatalf("status = %+v, want ok and private (first boot default)", r)
	}
	r := ctl(t, sock, ControlRequest{Op: "privacy", Privacy: "off"})
	if !r.OK || r.Status.Privacy || !r.Status.Recording || !r.Status.LED {
		t.Fatalf("privacy off = %+v, want recording", r)
	}
	r = ctl(t, sock, ControlRequest{Op: "privacy", Privacy: "on"})
	if !r.OK || !r.Status.Privacy || r.Status.Recording || r.Status.LED || r.Status.Shutter != "closed" {
		t.Fatalf("privacy on = %+v, want settled private", r)
	}
	if st := a.Status(); !st.Privacy {
		t.Fatal("agent not private after the control request")
	}
}

func TestControlRefusedInClinicalZone(t *testing.T) {
	sock, a := startControl(t, testIdentity("examination", "Room 1"))
	r := ctl(t, sock, ControlRequest{Op: "privacy", Privacy: "off"})
	if r.OK || !r.Refused || !strings.Contains(r.Error, "refused: clinical zone") {
		t.Fatalf("privacy off in a clinical zone = %+v, want refused", r)
	}
	if st := a.Status(); !st.Privacy || st.LED {
		t.Fatal("state changed by a refused request")
	}
}

// controlCases feeds TestControlBadInput (each line over the real socket)
// and FuzzControlRequest's seeds. want "" means the line is a valid request.
var controlCases = []struct{ name, line, want string }{
	{"status", `{"op":"status"}` + "\n", ""},
	{"privacy on", `{"op":"privacy","privacy":"on"}` + "\n", ""},
	{"privacy off", `{"op":"privacy","privacy":"off"}` + "\n", ""},
	{"not json", "privacy off\n", "bad request"},
	{"unknown op", `{"op":"reboot"}` + "\n", `unknown op "reboot"`},
	{"bad mode", `{"op":"privacy","privacy":"maybe"}` + "\n", `privacy "maybe"`},
	{"no mode", `{"op":"privacy"}` + "\n", `privacy ""`},
	{"mode on status", `{"op":"status","privacy":"off"}` + "\n", `only for op "privacy"`},
	{"audit check", `{"op":"audit_check","check":"camnode check opens /dev/video0"}` + "\n", ""},
	{"audit check empty", `{"op":"audit_check"}` + "\n", `"check" is empty`},
	{"audit check control char", `{"op":"audit_check","check":"a\u001bb"}` + "\n", "control character"},
	{"audit check with privacy", `{"op":"audit_check","check":"x","privacy":"off"}` + "\n", "audit_check"},
	{"check on privacy", `{"op":"privacy","privacy":"off","check":"x"}` + "\n", `only for op "audit_check"`},
	{"unknown field", `{"op":"privacy","privacy":"off","force":true}` + "\n", "unknown field"},
	{"two values", `{"op":"status"}{"op":"status"}` + "\n", "trailing data"},
	{"oversized", strings.Repeat("x", maxControlLine+10) + "\n", "longer than"},
	// Issue 9 item 8: a second reader could see the other value.
	{"duplicate key", `{"op":"privacy","privacy":"on","privacy":"off"}` + "\n", "twice"},
	{"case variant key", `{"op":"privacy","privacy":"on","Privacy":"off"}` + "\n", "differ only in case"},
	{"case variant key, off first", `{"op":"privacy","Privacy":"off","privacy":"on"}` + "\n", "differ only in case"},
	{"case variant op", `{"OP":"privacy","privacy":"off"}` + "\n", "op: missing"},
	{"null op", `{"op":null}` + "\n", "op: null"},
	{"empty line", "\n", "bad request"},
	{"null", "null\n", "bad request"},
	{"array", `[{"op":"status"}]` + "\n", "bad request"},
	{"invalid UTF-8", "{\"op\":\"privacy\",\"privacy\":\"o\xffff\"}\n", "UTF-8"},
}

func TestControlBadInput(t *testing.T) {
	sock, a := startControl(t, testIdentity("reception", "Front desk"))
	// Live first: a refused "on" would then show as a change too.
	if r := ctl(t, sock, ControlRequest{Op: "privacy", Privacy: "off"}); !r.OK {
		t.Fatalf("privacy off: %+v", r)
	}
	before := a.Status()
	for _, tc := range controlCases {
		if tc.want == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte(tc.line)); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadBytes('\n')
			if err != nil {
				t.Fatal(err)
			}
			var resp ControlResponse
			if err := json.Unmarshal(line, &resp); err != nil {
				t.Fatalf("response %q: %v", line, err)
			}
			if resp.OK || !strings.Contains(resp.Error, tc.want) {
				t.Fatalf("response %+v, want an error mentioning %q", resp, tc.want)
			}
		})
	}
	after := a.Status()
	if after.Privacy != before.Privacy || after.LED != before.LED || after.Shutter != before.Shutter || !after.Recording {
		t.Fatalf("bad requests changed state: %+v -> %+v", before, after)
	}
}

// FuzzControlRequest: any line, never a panic or a hang; a line the parser
// refuses is answered "bad request" without reaching the agent (the
// context is cancelled, so a request that reached it would answer
// "context canceled"), and what it accepts is one of the three requests.
func FuzzControlRequest(f *testing.F) {
	for _, tc := range controlCases {
		if len(tc.line) < 1024 {
			f.Add([]byte(tc.line))
		}
	}
	a, err := New(Config{Identity: testIdentity("reception", "Front desk"), StatePath: filepath.Join(f.TempDir(), "p.json")},
		Deps{LED: &gpiotest.LED{}, Shutter: &gpiotest.Shutter{}})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.Fuzz(func(t *testing.T, line []byte) {
		req, perr := parseControl(line)
		resp := a.handleControl(ctx, line, "fuzz")
		if perr != nil {
			if resp.OK || !strings.HasPrefix(resp.Error, "bad request") || resp.Status != nil {
				t.Fatalf("refused line %q answered %+v", line, resp)
			}
			return
		}
		switch {
		case req.Op == "status" && req.Privacy == "":
			if !resp.OK || resp.Status == nil {
				t.Fatalf("status %q answered %+v", line, resp)
			}
		case req.Op == "privacy" && (req.Privacy == "on" || req.Privacy == "off"):
			if resp.OK || !strings.Contains(resp.Error, "context canceled") {
				t.Fatalf("privacy %q answered %+v", line, resp)
			}
		case req.Op == "audit_check" && req.Privacy == "" && checkCheckDetail(req.Check) == nil:
			if !resp.OK || resp.Status != nil {
				t.Fatalf("audit_check %q answered %+v", line, resp)
			}
		default:
			t.Fatalf("accepted %q as %+v", line, req)
		}
	})
}

func TestListenControlFiles(t *testing.T) {
	dir := t.TempDir()
	// A regular file at the path is never removed.
	f := filepath.Join(dir, "file")
	os.WriteFile(f, []byte("keep"), 0o600)
	if _, err := ListenControl(f, ""); err == nil {
		t.Fatal("ListenControl replaced a regular file")
	}
	if b, _ := os.ReadFile(f); string(b) != "keep" {
		t.Fatal("regular file changed")
	}
	// A live socket is not stolen; a stale one is replaced.
	s := filepath.Join(dir, "s.sock")
	ln, err := ListenControl(s, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ListenControl(s, ""); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second ListenControl = %v, want in use", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := ListenControl(s, "")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
	if _, err := ListenControl(filepath.Join(dir, "x.sock"), "no-such-group-camnode"); err == nil {
		t.Fatal("unknown group accepted")
	}
}
