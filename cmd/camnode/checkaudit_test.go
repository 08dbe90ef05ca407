// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/capture"
)

// TestCheckRunAuditedBeforeCameraOpens: `camnode check` records its run
// before it opens the camera: with no agent running, in the spool that the
// agent moves into the chain at its next start; when it cannot be
// recorded, the camera is not opened.
func TestCheckRunAuditedBeforeCameraOpens(t *testing.T) {
	dir := t.TempDir()
	n := config.Node{StateDir: dir, ControlSocket: filepath.Join(dir, "no-agent.sock")}
	opened := false
	probe := func(config.Camera, bool, *slog.Logger) (capture.ProbeInfo, error) {
		if _, err := os.Stat(filepath.Join(dir, agent.CheckSpoolFile)); err != nil {
			t.Error("camera opened before the run was recorded")
		}
		opened = true
		return capture.ProbeInfo{}, nil
	}
	p := auditedProbe(probe, checkRecorder(context.Background(), n))
	if _, err := p(config.Camera{Device: "/dev/video0"}, false, slog.Default()); err != nil || !opened {
		t.Fatalf("probe: %v, opened %v", err, opened)
	}
	chain, err := agent.OpenAuditChain(filepath.Join(dir, agent.CurrentAuditFile), agent.ChainOptions{Node: "ward-3"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := agent.IngestCheckSpool(dir, chain, "ward-3"); err != nil || got != 1 {
		t.Fatalf("IngestCheckSpool = %d, %v", got, err)
	}
	chain.Close()
	data, _ := os.ReadFile(filepath.Join(dir, agent.CurrentAuditFile))
	if !strings.Contains(string(data), `"kind":"check","source":"local","actor":"uid=`) || !strings.Contains(string(data), "opens /dev/video0") {
		t.Fatalf("trail has no check record:\n%s", data)
	}
	if _, err := os.Stat(filepath.Join(dir, agent.CheckSpoolFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool not removed: %v", err)
	}

	// Nowhere to record it: the camera stays closed.
	opened = false
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n.StateDir = filepath.Join(dir, "file", "state") // cannot exist
	p = auditedProbe(probe, checkRecorder(context.Background(), n))
	if _, err := p(config.Camera{Device: "/dev/video0"}, false, slog.Default()); err == nil || opened || !strings.Contains(err.Error(), "not opened") {
		t.Fatalf("unrecordable check run: err %v, opened %v", err, opened)
	}
}

// TestCheckRunAuditedByRunningAgent: with the agent running, the check run
// is recorded by the agent itself, the actor from the kernel.
func TestCheckRunAuditedByRunningAgent(t *testing.T) {
	dir := t.TempDir()
	cfgPath, sock := writeNode(t, dir, "waiting", "Waiting area")
	notes, stop := startRun(t, cfgPath)
	waitNote(t, notes, "READY=1")
	err := checkRecorder(context.Background(), config.Node{StateDir: filepath.Join(dir, "state"), ControlSocket: sock})("camnode check opens /dev/video9 to list its formats")
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "state", agent.CurrentAuditFile))
	if !strings.Contains(string(data), `"kind":"check","source":"local","actor":"local uid=`) || !strings.Contains(string(data), "/dev/video9") {
		t.Fatalf("trail has no check record from the agent:\n%s", data)
	}
	if strings.Contains(string(data), "no agent running") {
		t.Fatal("spooled although the agent runs")
	}
}

// TestCmdCheckAuditsCameraOpen: `camnode check` itself goes through the
// audited probe: with a v4l2 camera configured (here /dev/null, which the
// probe then fails to use) and no agent running, the run is in the spool.
func TestCmdCheckAuditsCameraOpen(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeNode(t, dir, "waiting", "Waiting area")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), `source = "synthetic"`, `source = "v4l2"`+"\ndevice = \"/dev/null\"", 1)
	text = strings.Replace(text, `formats = ["I420"]`, `formats = ["YUYV"]`, 1)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	_ = run(context.Background(), []string{"check", "-config", cfgPath, "-no-gpio", "-timeout", "1s"}, nil, &out, &errb)
	if !strings.Contains(out.String(), "camera") {
		t.Fatalf("no camera check:\n%s\n%s", out.String(), errb.String())
	}
	spool, err := os.ReadFile(filepath.Join(dir, "state", agent.CheckSpoolFile))
	if err != nil || !strings.Contains(string(spool), "camnode check opens /dev/null") {
		t.Fatalf("check run not recorded before opening the camera: %v %q\n%s", err, spool, out.String())
	}
}
