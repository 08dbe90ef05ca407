// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/camnode/camnode/firmware"
)

// writeNode provisions a node in dir (signed identity, pinned key) and
// writes a config for it with the synthetic camera and simulated GPIO.
func writeNode(t *testing.T, dir, zone, room string) (configPath, socket string) {
	t.Helper()
	return writeMaskedNode(t, dir, zone, room, nil)
}

// writeMaskedNode is writeNode with privacy masks in the identity.
func writeMaskedNode(t *testing.T, dir, zone, room string, masks []firmware.Mask) (configPath, socket string) {
	t.Helper()
	cfg, err := provisionDemo(dir, firmware.Identity{NodeID: "node-7", Site: "Test Practice", Room: room,
		ZoneClass: zone, Installer: "test", IssuedAt: time.Now().UTC(), Masks: masks})
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`
[node]
identity_file = %q
installer_keys_file = %q
state_dir = %q
control_socket = %q
[camera]
source = "synthetic"
width = 320
height = 240
fps = 15
formats = ["I420"]
[gpio]
simulate = true
[audio]
poll_interval = "1s"
`, cfg.Node.IdentityFile, cfg.Node.InstallerKeysFile, cfg.Node.StateDir, cfg.Node.ControlSocket)
	configPath = filepath.Join(dir, "camnode.toml")
	if err := os.WriteFile(configPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return configPath, cfg.Node.ControlSocket
}

// notifySocket is a fake systemd notify socket: its path and the
// datagrams it receives.
func notifySocket(t *testing.T) (path string, notes <-chan string) {
	t.Helper()
	ns := filepath.Join(t.TempDir(), "notify.sock")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ch := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pc.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ns, ch
}

// startRun runs `camnode run` in-process with a fake systemd notify
// socket and returns the datagrams it receives.
func startRun(t *testing.T, configPath string) (notes <-chan string, stop func() error) {
	t.Helper()
	ns, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", ns)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, []string{"run", "-config", configPath}, nil, &bytes.Buffer{}, &stderr) }()
	return ch, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("run did not return after cancel")
		}
	}
}

func waitNote(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case n := <-ch:
			if strings.Contains(n, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q from the agent", want)
		}
	}
}

func privacyCmd(t *testing.T, socket, arg string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"privacy", "-socket", socket, "-timeout", "20s", arg}, nil, &out, &errb)
	code := 0
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) {
			t.Fatalf("camnode privacy %s: %v", arg, err)
		}
		code = ee.code
		out.WriteString(ee.msg)
	}
	return out.String(), code
}

func TestRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfgPath, sock := writeNode(t, dir, "waiting", "Waiting area")
	notes, stop := startRun(t, cfgPath)
	waitNote(t, notes, "READY=1")
	waitNote(t, notes, "WATCHDOG=1") // fed only while the owner loop answers

	out, code := privacyCmd(t, sock, "off")
	if code != 0 || !strings.Contains(out, "privacy   off") || !strings.Contains(out, "led       on") {
		t.Fatalf("privacy off: exit %d\n%s", code, out)
	}
	out, code = privacyCmd(t, sock, "on")
	if code != 0 || !strings.Contains(out, "privacy   on") || !strings.Contains(out, "led       off") || !strings.Contains(out, "shutter   closed") {
		t.Fatalf("privacy on: exit %d\n%s", code, out)
	}
	if _, code := privacyCmd(t, sock, "sideways"); code != 2 {
		t.Fatalf("bad argument: exit %d, want 2", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	waitNote(t, notes, "STOPPING=1")
	audit, err := os.ReadFile(filepath.Join(dir, "state", "audit.jsonl"))
	if err != nil || !strings.Contains(string(audit), `"privacy":"off"`) || !strings.Contains(string(audit), `"actor":"local uid=`) {
		t.Fatalf("audit trail lacks the local changes with the kernel-reported actor: %v\n%s", err, audit)
	}
}

func TestRunClinicalZoneRefuses(t *testing.T) {
	dir := t.TempDir()
	cfgPath, sock := writeNode(t, dir, "consulting", "Room 4")
	notes, stop := startRun(t, cfgPath)
	waitNote(t, notes, "READY=1")
	out, code := privacyCmd(t, sock, "off")
	if code != 3 || !strings.Contains(out, "refused: clinical zone (consulting)") || !strings.Contains(out, "capture LOCKED") {
		t.Fatalf("privacy off in a consulting room: exit %d, want 3 and the reason\n%s", code, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRunBadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.toml")
	os.WriteFile(p, []byte("[camera]\nfps = 0\n[gpio]\nsimulate = true\nbogus = 1\n"), 0o600)
	err := run(context.Background(), []string{"run", "-config", p}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "gpio.bogus") {
		t.Fatalf("run with a bad config = %v, want an error naming the key", err)
	}
	var out bytes.Buffer
	err = run(context.Background(), []string{"check-config", p}, nil, &out, &bytes.Buffer{})
	if err == nil {
		t.Fatal("check-config accepted a bad config")
	}
}

// TestRunStateFileNotRegular: privacy.json as a FIFO used to hang boot
// (and with it SIGTERM), as /dev/zero to run the node out of memory. Now
// the node boots private with a persist fault naming the cause, answers on
// its socket, and stops when asked.
func TestRunStateFileNotRegular(t *testing.T) {
	hostile := firmwaretest.HostilePaths(t, t.TempDir(), ".json")
	for _, name := range []string{firmwaretest.FIFO, firmwaretest.DevZero} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath, sock := writeNode(t, dir, "waiting", "Waiting area")
			state := filepath.Join(dir, "state", "privacy.json")
			if err := os.MkdirAll(filepath.Dir(state), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(hostile[name], state); err != nil {
				t.Fatal(err)
			}
			notes, stop := startRun(t, cfgPath)
			waitNote(t, notes, "READY=1")
			// "privacy on" goes through the agent's loop, so its answer
			// comes after the boot read the state (status may be earlier).
			out, code := privacyCmd(t, sock, "on")
			if code != 0 || !strings.Contains(out, "privacy   on") || !strings.Contains(out, "persist: persisted mode unreadable") ||
				!strings.Contains(out, "not a regular file") || !strings.Contains(out, "led       off") {
				t.Fatalf("status with privacy.json a %s: exit %d\n%s", name, code, out)
			}
			if err := stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
		})
	}
}

// TestRunConfigNotRegular: a FIFO as the configuration used to hang run and
// check-config; /dev/zero was read without end. Both are a prompt error.
func TestRunConfigNotRegular(t *testing.T) {
	hostile := firmwaretest.HostilePaths(t, t.TempDir(), ".toml")
	for _, path := range []string{hostile[firmwaretest.FIFO], hostile[firmwaretest.DevZero]} {
		for _, args := range [][]string{{"run", "-config", path}, {"check-config", path}, {"halt-outputs", "-config", path}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				err := firmwaretest.NoHang(t, "camnode "+strings.Join(args, " "), func() error {
					return run(context.Background(), args, nil, &bytes.Buffer{}, &bytes.Buffer{})
				})
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Fatalf("camnode %v = %v, want a not-a-regular-file error", args, err)
				}
			})
		}
	}
}
