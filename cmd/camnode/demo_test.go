// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemoKeys runs `camnode demo` in-process (no broker, no live view:
// those have their own tests) and drives it from its keyboard the way the
// README tells a newcomer to: it must stream, stop capture with an audio
// fault when the simulated USB microphone is plugged in, stream again when
// it is unplugged, go private on the privacy button, and quit on q.
func TestDemoKeys(t *testing.T) {
	d := startDemo(t, "-mqtt=false", "-liveview=", "-size=160x120", "-fps=15")
	out, typeKey := d.out, d.typeKey
	at := out.waitFor(t, 0, "type a + Enter to plug or unplug a simulated USB microphone")
	at = out.waitFor(t, at, "privacy OFF | LED ● REC | shutter open    | camera streaming")
	checkPrintedCommands(t, out.String())

	// The key's echo and the status lines come from different goroutines,
	// in either order: look for each from the point the key was typed.
	typeKey("a")
	out.waitFor(t, at, "USB microphone plugged in")
	at = out.waitFor(t, at, "LED ○ off | shutter closed  | camera off       | faults: audio: audio device present: capture PCM /dev/snd/pcmC1D0c")
	typeKey("a")
	out.waitFor(t, at, "USB microphone unplugged")
	at = out.waitFor(t, at, "privacy OFF | LED ● REC | shutter open    | camera streaming")

	typeKey("p")
	out.waitFor(t, at, "demo: privacy button: privacy on")
	out.waitFor(t, at, "privacy ON  | LED ○ off | shutter closed  | camera off")

	d.quit()
}

// demo is a running `camnode demo` driven through its keyboard.
type demo struct {
	t      *testing.T
	out    *watchWriter
	typer  *io.PipeWriter
	stderr bytes.Buffer
	done   chan error
}

func startDemo(t *testing.T, args ...string) *demo {
	keys, typer := io.Pipe()
	d := &demo{t: t, out: newWatchWriter(), typer: typer, done: make(chan error, 1)}
	go func() { d.done <- cmdDemo(t.Context(), args, keys, d.out, &d.stderr) }()
	return d
}

// typeKey types k and Enter.
func (d *demo) typeKey(k string) {
	d.t.Helper()
	if _, err := io.WriteString(d.typer, k+"\n"); err != nil {
		d.t.Fatal(err)
	}
}

// quit types q and checks that the demo ends cleanly with its final
// "outputs safe" line.
func (d *demo) quit() {
	d.t.Helper()
	d.typeKey("q")
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Fatalf("demo ended with %v\nstderr:\n%s", err, d.stderr.String())
		}
	case <-time.After(30 * time.Second): // to fail, not to time anything
		d.t.Fatal("demo did not quit on q")
	}
	// The last line, but for where -keep kept the demo's directory.
	s := d.out.String()
	_, after, ok := strings.Cut(s, "camnode demo: stopped: LED off, shutter closed\n")
	if !ok || (after != "" && !strings.HasPrefix(after, "camnode demo: kept ")) {
		d.t.Fatalf("no final \"LED off, shutter closed\" line after quitting:\n%s", s)
	}
}

// checkPrintedCommands: every command the demo prints is complete, one per
// line (no "on|off" that a shell would run as a pipe), and the printed
// "camnode privacy ... status" really works when run.
func checkPrintedCommands(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, "|off") || strings.Contains(s, "on|") {
		t.Errorf("the demo prints alternatives a shell would run as a pipe:\n%s", s)
	}
	ops := map[string][]string{}
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == "privacy" && (f[2] == "-socket" || f[2] == "-broker") {
			ops[f[2]] = append(ops[f[2]], f[len(f)-1])
			if f[2] == "-socket" && f[len(f)-1] == "status" {
				var o, e bytes.Buffer
				if err := run(t.Context(), f[1:], nil, &o, &e); err != nil || !strings.Contains(o.String(), "privacy   off") {
					t.Errorf("the printed %q: %v\n%s%s", strings.TrimSpace(line), err, o.String(), e.String())
				}
			}
		}
	}
	if got := strings.Join(ops["-socket"], " "); got != "on off status" {
		t.Errorf("camnode privacy commands end in %q, want one line each for on, off, status:\n%s", got, s)
	}
	export, verify := demoAuditLines(t, s)
	flags := map[string]string{}
	for i := 3; i+1 < len(export); i += 2 {
		flags[export[i]] = export[i+1]
	}
	for flag, file := range map[string]string{"-state": "audit.jsonl", "-identity": "", "-installer-keys": ""} {
		if _, err := os.Stat(filepath.Join(flags[flag], file)); flags[flag] == "" || err != nil {
			t.Errorf("the printed export command's %s %q: %v", flag, flags[flag], err)
		}
	}
	if len(export) != 11 || flags["-o"] != demoBundle || len(verify) != 4 || verify[3] != demoBundle {
		t.Errorf("the printed audit commands: %q and %q; want export ... -o %s and verify %[3]s", export, verify, demoBundle)
	}
}

// demoAuditLines returns the fields of the last camctl audit export and
// audit verify commands in the demo's output s (each complete, on a line
// of its own).
func demoAuditLines(t *testing.T, s string) (export, verify []string) {
	t.Helper()
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasSuffix(f[0], "camctl") && f[1] == "audit" {
			switch f[2] {
			case "export":
				export = f
			case "verify":
				verify = f
			}
		}
	}
	if export == nil || verify == nil {
		t.Fatalf("the demo prints no camctl audit export and verify commands:\n%s", s)
	}
	return export, verify
}

// TestDemoClinicalZone: in a clinical zone the demo prints no live-view URL
// (it says why there is none), the privacy button says it was refused, and
// quitting says the outputs are safe.
func TestDemoClinicalZone(t *testing.T) {
	d := startDemo(t, "-zone", "consulting", "-mqtt=false", "-liveview=127.0.0.1:1", "-size=160x120", "-fps=15")
	out := d.out
	at := out.waitFor(t, 0, "live view:       none: clinical zone (consulting)")
	at = out.waitFor(t, at, "LOCKED: clinical zone (consulting)")
	if s := out.String(); strings.Contains(s, "https://") {
		t.Errorf("a live-view URL in a clinical zone:\n%s", s)
	}
	d.typeKey("p")
	out.waitFor(t, at, "demo: privacy button: refused: clinical zone (consulting) (privacy stays on)")
	d.quit()
}

// watchWriter collects output and wakes waiters on every write.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wake chan struct{}
}

func newWatchWriter() *watchWriter { return &watchWriter{wake: make(chan struct{}, 1)} }

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until the output from offset from on holds sub and returns
// the offset just after it.
func (w *watchWriter) waitFor(t *testing.T, from int, sub string) int {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		s := w.buf.String()
		w.mu.Unlock()
		if i := strings.Index(s[from:], sub); i >= 0 {
			return from + i + len(sub)
		}
		select {
		case <-w.wake:
		case <-timeout:
			t.Fatalf("no %q in the demo's output after offset %d:\n%s", sub, from, s)
		}
	}
}

// TestDemoMask: the clinical-view scenario. A corridor node whose
// identity carries a mask over a consulting room's open door (-mask, the
// installer's syntax) streams with the mask active (the status line counts
// it, from the verified identity the pipeline burns it in from), prints a
// staff link and an installer link whose token has the installer role (its
// page outlines the mask), and a malformed -mask is refused with the
// reason before anything starts.
func TestDemoMask(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the demo listens there (and on the next port, UDP)
	d := startDemo(t, "-zone", "corridor", "-room", "Ward 3 corridor", "-mask", "rect:0.55,0.1,0.95,0.9",
		"-mqtt=false", "-liveview="+addr, "-size=320x240", "-fps=15")
	out := d.out
	at := out.waitFor(t, 0, "privacy masks:   1, signed into the identity and burned into every picture on the node")
	out.waitFor(t, at, "privacy OFF | LED ● REC | shutter open    | camera streaming | 320x240 I420 15/1 fps | 1 mask(s)")
	roles := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		_, tok, ok := strings.Cut(line, "#token=")
		if !ok {
			continue
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("token in %q is not a JWT", line)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Role string `json:"role"`
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		roles[strings.TrimSpace(strings.SplitN(line, "https://", 2)[0])] = c.Role
	}
	if roles["live view:"] != "staff" || roles["as installer:"] != "installer" {
		t.Errorf("viewer links by label and token role: %v; want a staff live view and an installer link", roles)
	}
	for line := range strings.Lines(out.String()) {
		if f := strings.Fields(line); len(f) == 5 && f[1] == "privacy" && f[2] == "-socket" && f[4] == "status" {
			if st, code := privacyCmd(t, f[3], "status"); code != 0 || !strings.Contains(st, "masks     1 privacy mask(s) burned into every frame (signed identity)") {
				t.Errorf("camnode privacy status: exit %d, want the masks line:\n%s", code, st)
			}
		}
	}
	d.quit()

	var stderr bytes.Buffer
	err = cmdDemo(t.Context(), []string{"-mask", "rect:0.5,0.5,0.2,1", "-mqtt=false", "-liveview="}, strings.NewReader(""), io.Discard, &stderr)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, `-mask "rect:0.5,0.5,0.2,1": rect [0.5 0.5 0.2 1] is empty`) {
		t.Errorf("malformed -mask: %v; want exit 2 naming the mask", err)
	}
}
