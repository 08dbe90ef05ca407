// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"io"
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
	keys, typer := io.Pipe()
	out := newWatchWriter()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cmdDemo(t.Context(), []string{"-mqtt=false", "-liveview=", "-size=160x120", "-fps=15"}, keys, out, &stderr)
	}()
	typeKey := func(k string) {
		t.Helper()
		if _, err := io.WriteString(typer, k+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	at := out.waitFor(t, 0, "type a + Enter to plug or unplug a simulated USB microphone")
	at = out.waitFor(t, at, "privacy OFF | LED ● REC | shutter open    | camera streaming")

	// The key's echo and the status lines come from different goroutines,
	// in either order: look for each from the point the key was typed.
	typeKey("a")
	out.waitFor(t, at, "USB microphone plugged in")
	at = out.waitFor(t, at, "LED ○ off | shutter closed  | camera off       | faults: audio: audio device present: capture PCM /dev/snd/pcmC1D0c")
	typeKey("a")
	out.waitFor(t, at, "USB microphone unplugged")
	at = out.waitFor(t, at, "privacy OFF | LED ● REC | shutter open    | camera streaming")

	typeKey("p")
	out.waitFor(t, at, "privacy ON  | LED ○ off | shutter closed  | camera off")

	typeKey("q")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo ended with %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not quit on q")
	}
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
