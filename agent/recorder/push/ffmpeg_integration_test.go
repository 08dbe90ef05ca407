// SPDX-License-Identifier: Apache-2.0

//go:build integration

package push

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
)

const (
	ffW, ffH = 640, 480
)

// gatedSink is the node's privacy gate in small: frames reach the pipeline
// only while open; closing it cuts the pipeline (and so the publisher).
type gatedSink struct {
	pipe *pipeline.Pipeline
	mu   sync.Mutex
	open bool
	last uint64 // counter of the last frame let through
	n    int    // frames let through since the gate last opened
}

func (g *gatedSink) Started(capture.Format) {}
func (g *gatedSink) Frame(f *capture.Frame) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		g.pipe.WriteFrame(f)
		g.last = f.Seq
		g.n++
	}
}

// setOpen opens the gate, or closes it and cuts (privacy on); it returns
// the counter of the last frame before the change.
func (g *gatedSink) setOpen(on bool) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open, g.n = on, 0
	if !on {
		g.pipe.Cut() // returns once the publisher's session is closed
	}
	return g.last
}

// listener is ffmpeg waiting for a publisher (-rtsp_flags listen): it
// records what it gets (stream copy, as a recorder would) and decodes it
// to gray frames whose stamps the test reads.
type listener struct {
	cmd    *exec.Cmd
	file   string
	mu     sync.Mutex
	stamps []uint32
	done   chan error
}

func startListener(t *testing.T, addr string) *listener {
	t.Helper()
	l := &listener{file: filepath.Join(t.TempDir(), "rec.mkv"), done: make(chan error, 1)}
	l.cmd = exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-rtsp_flags", "listen", "-rtsp_transport", "tcp", "-i", "rtsp://"+addr+"/node-1",
		"-map", "0:v", "-c", "copy", "-f", "matroska", l.file,
		"-map", "0:v", "-f", "rawvideo", "-fps_mode", "passthrough", "-pix_fmt", "gray", "pipe:1")
	l.cmd.Stderr = t.Output()
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		readStamps(out, func(c uint32) {
			l.mu.Lock()
			l.stamps = append(l.stamps, c)
			l.mu.Unlock()
		})
		l.done <- l.cmd.Wait()
	}()
	t.Cleanup(func() { _ = l.cmd.Process.Kill() })
	return l
}

func (l *listener) got() []uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]uint32(nil), l.stamps...)
}

// readStamps reads gray ffW x ffH frames from r and calls f with each
// frame's stamp counter (frames without a readable stamp are skipped).
func readStamps(r io.Reader, f func(uint32)) {
	br := bufio.NewReaderSize(r, ffW*ffH)
	buf := make([]byte, ffW*ffH)
	for {
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		if c, _, ok := capture.ReadStamp(buf, ffW, ffW, ffH); ok {
			f(c)
		}
	}
}

// decodeFile decodes a recording and returns its stamp counters.
func decodeFile(t *testing.T, path string) []uint32 {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", path,
		"-f", "rawvideo", "-fps_mode", "passthrough", "-pix_fmt", "gray", "pipe:1")
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []uint32
	readStamps(out, func(c uint32) { got = append(got, c) })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return got
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func increasing(c []uint32) bool {
	for i := 1; i < len(c); i++ {
		if c[i] <= c[i-1] {
			return false
		}
	}
	return true
}

// A real camera stream (synthetic, stamped, x264) published to ffmpeg
// listening as a receiver: it records and decodes the stamped frames in
// order; privacy cuts the session (ffmpeg's input ends) and nothing from
// inside the private window is ever published; after privacy off the
// publisher reconnects by itself (retrying until the next receiver
// listens) and the new recording holds only frames captured after it.
func TestFFmpegReceiver(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg not installed (apt-get install ffmpeg; scripts/test installs it)")
	}
	addr := freeAddr(t)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	pipe, err := pipeline.New(pipeline.Config{Logger: log, KeyInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	audit := newAuditLog()
	p, err := New(Config{URL: "rtsp://" + addr + "/node-1", Insecure: true, Logger: log, Auditor: audit,
		RequestKeyframe: pipe.RequestKeyframe, MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pipe.Add(p)
	cam, err := capture.NewSynthetic(capture.SyntheticConfig{Width: ffW, Height: ffH, Pixel: capture.I420, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	gate := &gatedSink{pipe: pipe}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	camDone := make(chan struct{})
	go func() { defer close(camDone); _ = cam.Stream(ctx, gate) }()
	defer func() { cancel(); <-camDone }()

	// Session 1.
	l1 := startListener(t, addr)
	gate.setOpen(true)
	waitFor(t, "ffmpeg to decode 45 stamped frames", func() bool { return len(l1.got()) >= 45 })
	cutAt := gate.setOpen(false) // privacy on
	select {
	case err := <-l1.done:
		t.Logf("first receiver ended (%v) after the cut", err)
	case <-time.After(30 * time.Second):
		t.Fatal("ffmpeg still receiving 30 s after the cut")
	}
	live1 := l1.got()
	rec1 := decodeFile(t, l1.file)
	for name, c := range map[string][]uint32{"decoded live": live1, "recording": rec1} {
		if len(c) < 30 || !increasing(c) {
			t.Fatalf("session 1 %s: %d frames, in order %v", name, len(c), increasing(c))
		}
		if c[len(c)-1] > uint32(cutAt) {
			t.Fatalf("session 1 %s holds frame %d, captured after the cut at %d", name, c[len(c)-1], cutAt)
		}
	}
	if rec := <-audit.ch; rec.View.Ended != EndPrivacy || rec.View.Frames == 0 || rec.View.Bytes == 0 {
		t.Errorf("session 1 audited as %+v", rec.View)
	}

	// Privacy off: frames flow again, the publisher reconnects to the
	// next receiver by itself.
	l2 := startListener(t, addr)
	reopened := gate.setOpen(true) // frames with counters above this are after privacy off
	waitFor(t, "ffmpeg to decode 45 frames after privacy off", func() bool { return len(l2.got()) >= 45 })
	p.Close() // node stopping
	select {
	case <-l2.done:
	case <-time.After(30 * time.Second):
		t.Fatal("ffmpeg still receiving 30 s after Close")
	}
	rec2 := decodeFile(t, l2.file)
	for name, c := range map[string][]uint32{"decoded live": l2.got(), "recording": rec2} {
		if len(c) < 30 || !increasing(c) {
			t.Fatalf("session 2 %s: %d frames, in order %v", name, len(c), increasing(c))
		}
		if c[0] <= uint32(reopened) {
			t.Fatalf("session 2 %s starts with frame %d, captured before privacy off (%d)", name, c[0], reopened)
		}
	}
	if rec := <-audit.ch; rec.View.Ended != EndClosed {
		t.Errorf("session 2 audited as %+v", rec.View)
	}
	if _, err := os.Stat(l2.file); err != nil {
		t.Fatal(err)
	}
}
