// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/firmware/firmwaretest"

	"github.com/camnode/camnode/cmd/internal/cli"
)

// TestMain lets a test start this test binary as the camnode command
// itself (main's cli.Main, with its signal handling): see startBinary.
func TestMain(m *testing.M) {
	if os.Getenv("CAMNODE_TEST_AS_BINARY") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSignalsHalt runs the real camnode process (this test binary re-executed
// as `camnode run`, simulated GPIO, synthetic camera), switches privacy off
// so that the LED is lit and the shutter open, sends one signal and checks
// that the process ran the halt sequence (the agent halted with the LED off
// and the shutter closed, then the outputs were halted) and exited 0.
// SIGHUP and SIGQUIT used to kill the agent with the LED lit. SIGUSR1 and
// SIGUSR2 (ignored by the Go runtime) must leave it running.
func TestSignalsHalt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a camnode process per signal")
	}
	for _, sig := range cli.StopSignals {
		t.Run(cli.SignalName(sig), func(t *testing.T) {
			p := startBinary(t)
			p.stopWith(sig)
		})
	}
	t.Run("SIGUSR1 and SIGUSR2 are ignored", func(t *testing.T) {
		p := startBinary(t)
		for _, sig := range []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2} {
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
		}
		// Had either signal killed the process, this request or the
		// clean exit checked by stopWith would fail.
		out, code := privacyCmd(t, p.sock, "status")
		if code != 0 || !strings.Contains(out, "led       on") {
			t.Fatalf("status after SIGUSR1/2: exit %d\n%s\n%s", code, out, p.log.String())
		}
		p.stopWith(syscall.SIGTERM)
	})
}

// binary is a camnode process started by startBinary.
type binary struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	sock   string
	log    *firmwaretest.SyncBuffer
	exited chan struct{}
}

// startBinary starts `camnode run` as a process and switches privacy off:
// LED on, shutter open, streaming.
func startBinary(t *testing.T) *binary {
	t.Helper()
	dir := t.TempDir()
	cfgPath, sock := writeNode(t, dir, "waiting", "Waiting area")
	ns, notes := notifySocket(t)
	p := &binary{t: t, cmd: exec.Command(os.Args[0], "run", "-config", cfgPath), dir: dir, sock: sock,
		log: &firmwaretest.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "CAMNODE_TEST_AS_BINARY=1", "NOTIFY_SOCKET="+ns)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	waitNote(t, notes, "READY=1")
	out, code := privacyCmd(t, sock, "off")
	if code != 0 || !strings.Contains(out, "led       on") || !strings.Contains(out, "shutter   open") {
		t.Fatalf("privacy off: exit %d\n%s\n%s", code, out, p.log.String())
	}
	return p
}

// stopWith sends sig and checks the halt sequence ran and the process
// exited 0.
func (p *binary) stopWith(sig os.Signal) {
	t := p.t
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second): // a deadline to fail, not a timing assertion
		t.Fatalf("camnode did not exit after %v\n%s", sig, p.log.String())
	}
	log := p.log.String()
	if st := p.cmd.ProcessState; !st.Exited() || st.ExitCode() != 0 {
		t.Fatalf("after %v: %v, want a clean exit 0\n%s", sig, st, log)
	}
	for _, want := range []string{
		`msg=stopping component=agent cause="got ` + cli.SignalName(sig) + `"`,
		"msg=halted component=agent",
		`msg="outputs halted: shutter closed, LED off"`,
	} {
		if !strings.Contains(log, want) {
			t.Fatalf("after %v the log lacks %q:\n%s", sig, want, log)
		}
	}
	if i, j := strings.LastIndex(log, "msg=transition"), strings.LastIndex(log, "msg=halted"); i < 0 || i > j ||
		!strings.Contains(log[i:j], "shutter=closed led=false") {
		t.Fatalf("the last transition before halting is not shutter closed, LED off:\n%s", log)
	}
	// The persisted mode is kept: a stop is not a privacy change.
	if data, err := os.ReadFile(filepath.Join(p.dir, "state", "privacy.json")); err != nil || !strings.Contains(string(data), `"private":false`) {
		t.Fatalf("privacy.json after the stop: %q, %v", data, err)
	}
}
