// SPDX-License-Identifier: Apache-2.0

//go:build vm && linux

package vmtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// This file runs the shipped camnode binary (built static for the guest's
// architecture by scripts/vm-test, at $CAMNODE_BIN) as an installer would
// run it: a signed identity, a TOML config naming the vivid camera and the
// emulated MCP2221's lines, `camnode run`, then `camnode privacy` over the
// control socket. The levels are read on the emulator's side of the wire.
// It sorts before gpio_vm_test.go so it runs first: those tests keep their
// lines requested until the process ends. It waits for the capture tests
// (another process) to be done with /dev/video0.

// binNode is one `camnode run` process.
type binNode struct {
	bin, dir, config, socket string
	cmd                      *exec.Cmd
	stderr                   *firmwaretest.SyncBuffer
	exited                   chan error
}

// startBinary provisions a node in zone and starts `camnode run`.
func startBinary(t *testing.T, m *mcp, zone string) *binNode {
	t.Helper()
	bin := os.Getenv("CAMNODE_BIN")
	if bin == "" {
		t.Fatal("CAMNODE_BIN not set: scripts/vm-test ships the camnode binary into the guest")
	}
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := firmware.SignIdentity(firmware.Identity{NodeID: "vm-node", Site: "VM Practice", Room: "Room " + zone,
		ZoneClass: zone, Installer: "vm-test", IssuedAt: time.Now().UTC(), InitialPrivacy: "on"}, priv)
	if err != nil {
		t.Fatal(err)
	}
	n := &binNode{bin: bin, dir: dir, config: filepath.Join(dir, "camnode.toml"), socket: filepath.Join(dir, "control.sock"),
		stderr: &firmwaretest.SyncBuffer{}, exited: make(chan error, 1)}
	files := map[string]string{
		"identity.json":      string(signed),
		"installer-keys.pub": firmware.FormatKey(pub, "vm installer"),
		"camnode.toml": fmt.Sprintf(`[node]
identity_file = %q
installer_keys_file = %q
state_dir = %q
control_socket = %q
[camera]
source = "v4l2"
device = "/dev/video0"
width = 640
height = 480
fps = 25
formats = ["H264", "MJPEG", "YUYV"]
[gpio]
led = %q
led_active_low = true
shutter = %q
shutter_feedback = %q
button = %q
shutter_confirm_timeout = "5s"
[audio]
poll_interval = "1s"
[log]
level = "info"
format = "text"
`, filepath.Join(dir, "identity.json"), filepath.Join(dir, "installer-keys.pub"), filepath.Join(dir, "state"), n.socket,
			m.ref(0), m.ref(1), m.ref(2), m.ref(3)),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n.cmd = exec.Command(bin, "run", "-config", n.config)
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			<-n.exited
			// What systemd's ExecStopPost does after a crash: a kill
			// leaves the MCP2221's outputs where they were.
			if out, err := exec.Command(bin, "halt-outputs", "-config", n.config).CombinedOutput(); err != nil {
				t.Errorf("camnode halt-outputs: %v\n%s", err, out)
			}
		}
		if t.Failed() {
			t.Logf("camnode stderr:\n%s", n.stderr.String())
		}
	})
	n.waitStatus(t, "control socket answering", 20*time.Second, func(agent.Status) bool { return true })
	return n
}

// privacy runs `camnode privacy -socket S arg` and returns its exit code
// and output.
func (n *binNode) privacy(t *testing.T, arg string) (int, string) {
	t.Helper()
	out, err := exec.Command(n.bin, "privacy", "-socket", n.socket, arg).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("camnode privacy %s: %v", arg, err)
	return 0, ""
}

// waitStatus asks the running node for its status over the control
// socket until ok holds.
func (n *binNode) waitStatus(t *testing.T, what string, d time.Duration, ok func(agent.Status) bool) agent.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last agent.Status
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := agent.Control(ctx, n.socket, agent.ControlRequest{Op: "status"})
		cancel()
		if lastErr = err; err == nil && resp.Status != nil {
			if last = *resp.Status; ok(last) {
				return last
			}
		}
		select {
		case err := <-n.exited:
			t.Fatalf("camnode exited (%v) while waiting for %s", err, what)
		case <-tick.C:
		}
	}
	t.Fatalf("timed out waiting for %s; last status %+v, err %v", what, last, lastErr)
	return last
}

// stop sends SIGTERM (what systemd sends) and waits for a clean exit.
func (n *binNode) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.exited:
		if err != nil {
			t.Errorf("camnode run after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("camnode did not exit within 20 s of SIGTERM")
	}
}

// videoFDsOf lists pid's open /dev/video* descriptors.
func videoFDsOf(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "/dev/video") {
			out = append(out, l)
		}
	}
	return out
}

// waitCaptureTests waits until the capture tests (the other test binary in
// the guest) are done with /dev/video0; /init touches the marker.
func waitCaptureTests(t *testing.T) {
	t.Helper()
	const marker = "/tmp/capture-tests-done"
	deadline := time.Now().Add(300 * time.Second) // the capture tests may take 300 s (scripts/vm-test)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(marker); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s: the capture tests did not finish", marker)
		}
		<-tick.C
	}
}

// TestCamnodeBinary: the real binary on a real kernel: identity verified,
// camera and GPIO opened from the config, privacy off through the CLI ->
// shutter open (confirmed by the feedback line), LED lit, vivid streaming;
// privacy on -> camera closed, shutter closed, LED dark; the privacy button
// -> private again; every change audited with its source; a sound card
// loaded -> capture stopped, LED dark, audio fault; unloaded -> streaming;
// SIGTERM -> exit 0 with the outputs safe.
func TestCamnodeBinary(t *testing.T) {
	guest(t)
	m := chip(t)
	waitCaptureTests(t)
	m.sim.Link(1, 2) // the shutter's feedback switch follows its drive
	defer func() { m.sim.Link(1, -1); m.sim.SetInput(2, false) }()

	begin := m.sim.Mark("TestCamnodeBinary")
	t.Cleanup(func() {
		if t.Failed() { // the wire, as the emulator saw it
			for _, e := range m.sim.Events() {
				if e.Seq >= begin {
					t.Logf("  %v", e)
				}
			}
		}
	})
	n := startBinary(t, m, "reception")
	pid := n.cmd.Process.Pid
	st := n.waitStatus(t, "private at start", 10*time.Second, func(s agent.Status) bool { return s.Privacy && s.Capture == "off" })
	if !st.CaptureAllowed || st.Audio != "absent" {
		t.Fatalf("start: %+v", st)
	}
	if s := m.sim.State(); !s.Out[0] || s.Out[1] {
		t.Errorf("private at start: GP0=%d (want 1: LED dark) GP1=%d (want 0: closed)", b2i(s.Out[0]), b2i(s.Out[1]))
	}
	if v := videoFDsOf(t, pid); len(v) != 0 {
		t.Errorf("camera open while private: %v", v)
	}

	if code, out := n.privacy(t, "off"); code != 0 {
		t.Fatalf("camnode privacy off: exit %d\n%s", code, out)
	}
	st = n.waitStatus(t, "streaming", 20*time.Second, func(s agent.Status) bool {
		return s.Recording && s.Capture == "streaming" && s.LED && s.Shutter == "open" && s.Frames > 10
	})
	if s := m.sim.State(); s.Out[0] || !s.Out[1] || !s.In[2] {
		t.Errorf("streaming: GP0=%d (want 0: LED lit) GP1=%d (want 1: open) GP2=%d (want 1: feedback open)", b2i(s.Out[0]), b2i(s.Out[1]), b2i(s.In[2]))
	}
	if v := videoFDsOf(t, pid); len(v) != 1 {
		t.Errorf("streaming with video fds %v", v)
	}
	t.Logf("camnode streaming %s, %d frames, sensor open %v", st.Format, st.Frames, st.Sensor != nil && *st.Sensor)
	fmt.Printf("CAMNODE-BINARY streaming format=%q frames=%d\n", st.Format, st.Frames)

	m.sim.Mark("camnode privacy on")
	if code, out := n.privacy(t, "on"); code != 0 || !strings.Contains(out, "privacy   on") {
		t.Fatalf("camnode privacy on: exit %d\n%s", code, out)
	}
	// Acknowledged means done: no waiting here.
	m.sim.Mark("acknowledged")
	if s := m.sim.State(); !s.Out[0] || s.Out[1] {
		t.Errorf("after privacy on was acknowledged: GP0=%d (want 1: LED dark) GP1=%d (want 0: closed)", b2i(s.Out[0]), b2i(s.Out[1]))
	}
	if v := videoFDsOf(t, pid); len(v) != 0 {
		t.Errorf("camera still open after privacy on was acknowledged: %v", v)
	}

	m.sim.Mark("camnode privacy off (again)")
	if code, out := n.privacy(t, "off"); code != 0 {
		t.Fatalf("camnode privacy off (again): exit %d\n%s", code, out)
	}
	n.waitStatus(t, "streaming again", 20*time.Second, func(s agent.Status) bool { return s.Recording && s.LED })

	// The technician's privacy button on GP3 (active high, polled).
	m.sim.SetInput(3, true)
	n.waitStatus(t, "private after a button press", 10*time.Second, func(s agent.Status) bool {
		return s.Privacy && !s.LED && s.Capture == "off" && s.Shutter == "closed"
	})
	m.sim.SetInput(3, false)
	if s := m.sim.State(); !s.Out[0] || s.Out[1] {
		t.Errorf("after the button: GP0=%d (want 1: LED dark) GP1=%d (want 0: closed)", b2i(s.Out[0]), b2i(s.Out[1]))
	}
	if code, out := n.privacy(t, "off"); code != 0 {
		t.Fatalf("camnode privacy off (after the button): exit %d\n%s", code, out)
	}
	n.waitStatus(t, "streaming after the button", 20*time.Second, func(s agent.Status) bool { return s.Recording && s.LED })

	// A sound card appears (the ALSA test card the capture tests use):
	// capture stops, the LED goes dark on the wire, the fault is reported;
	// when it goes, streaming resumes.
	snd := strings.Fields(os.Getenv("CAMNODE_SND_MODULES")) // dependency order, the card last
	if len(snd) == 0 {
		t.Fatal("CAMNODE_SND_MODULES not set")
	}
	for _, mod := range snd {
		// The capture tests leave the ALSA core loaded; only the card is new.
		if out, err := exec.Command("insmod", mod).CombinedOutput(); err != nil && !strings.Contains(string(out), "File exists") {
			t.Fatalf("insmod %s: %v: %s", mod, err, out)
		}
	}
	st = n.waitStatus(t, "audio fault", 10*time.Second, func(s agent.Status) bool {
		return s.Faults["audio"] != "" && s.Capture == "off" && !s.LED && !s.Recording
	})
	if s := m.sim.State(); !s.Out[0] || s.Out[1] {
		t.Errorf("with a sound card: GP0=%d (want 1: LED dark) GP1=%d (want 0: closed)", b2i(s.Out[0]), b2i(s.Out[1]))
	}
	if v := videoFDsOf(t, pid); len(v) != 0 {
		t.Errorf("camera open with a sound card present: %v", v)
	}
	t.Logf("audio fault: %s", st.Faults["audio"])
	card := strings.TrimSuffix(filepath.Base(snd[len(snd)-1]), ".ko")
	if out, err := exec.Command("rmmod", card).CombinedOutput(); err != nil {
		t.Fatalf("rmmod %s: %v: %s", card, err, out)
	}
	n.waitStatus(t, "streaming once the card is gone", 20*time.Second, func(s agent.Status) bool {
		return s.Recording && s.LED && s.Faults["audio"] == ""
	})
	n.stop(t) // SIGTERM while streaming
	audit, err := os.ReadFile(filepath.Join(n.dir, "state", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(audit), `"source":"button"`); c != 1 {
		t.Errorf("%d audit records from the button, want 1:\n%s", c, audit)
	}
	if c := strings.Count(string(audit), `"source":"local"`); c != 4 {
		t.Errorf("%d audit records from the local socket, want 4 (off, on, off, off):\n%s", c, audit)
	}
	if s := m.sim.State(); !s.Out[0] || s.Out[1] {
		t.Errorf("after SIGTERM: GP0=%d (want 1: LED dark) GP1=%d (want 0: closed)", b2i(s.Out[0]), b2i(s.Out[1]))
	}
	if !strings.Contains(n.stderr.String(), "streaming") {
		t.Errorf("camnode's log never says streaming:\n%s", n.stderr.String())
	}
}

// TestCamnodeBinaryClinical: the same binary provisioned into a consulting
// room refuses `camnode privacy off` (exit 3, the reason printed) and never
// opens /dev/video0, while its GPIO stays private.
func TestCamnodeBinaryClinical(t *testing.T) {
	guest(t)
	m := chip(t)
	waitCaptureTests(t)
	n := startBinary(t, m, "consulting")
	pid := n.cmd.Process.Pid
	code, out := n.privacy(t, "off")
	if code != 3 || !strings.Contains(out, "clinical zone (consulting)") {
		t.Fatalf("camnode privacy off in a consulting room: exit %d\n%s", code, out)
	}
	tick := time.NewTicker(50 * time.Millisecond) // sampling /proc for a second: nothing to wait on
	defer tick.Stop()
	for range 20 {
		if v := videoFDsOf(t, pid); len(v) != 0 {
			t.Fatalf("a consulting-room node opened the camera: %v", v)
		}
		<-tick.C
	}
	st := n.waitStatus(t, "locked", 5*time.Second, func(s agent.Status) bool { return !s.CaptureAllowed && s.Privacy })
	if s := m.sim.State(); !s.Out[0] || s.Out[1] {
		t.Errorf("consulting room: GP0=%d (want 1: LED dark) GP1=%d (want 0: closed)", b2i(s.Out[0]), b2i(s.Out[1]))
	}
	n.stop(t)
	t.Logf("refused: %s; zone reason %q", strings.TrimSpace(out), st.ZoneReason)
}
