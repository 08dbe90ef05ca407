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

func TestControlBadInput(t *testing.T) {
	sock, a := startControl(t, testIdentity("reception", "Front desk"))
	before := a.Status()
	for _, tc := range []struct{ name, line, want string }{
		{"not json", "privacy off\n", "bad request"},
		{"unknown op", `{"op":"reboot"}` + "\n", `unknown op "reboot"`},
		{"bad mode", `{"op":"privacy","privacy":"maybe"}` + "\n", `privacy "maybe"`},
		{"unknown field", `{"op":"privacy","privacy":"off","force":true}` + "\n", "unknown field"},
		{"two values", `{"op":"status"}{"op":"status"}` + "\n", "trailing data"},
		{"oversized", strings.Repeat("x", maxControlLine+10) + "\n", "longer than"},
	} {
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
	if after.Privacy != before.Privacy || after.LED != before.LED || after.Shutter != before.Shutter {
		t.Fatalf("bad requests changed state: %+v -> %+v", before, after)
	}
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
