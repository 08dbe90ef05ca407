// SPDX-License-Identifier: Apache-2.0

//go:build linux

package capture

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/capture/internal/procfd"
)

// TestAudioGuardInotify: with DevDir set, a capture PCM appearing or going
// is seen at once, not at the next poll: the poll interval here is an hour,
// so a verdict at all within the wait proves the inotify path. It also
// covers /dev/snd being created after the watch started (the first sound
// card creates it), removed and created again, and the watch's fd being
// closed when the context ends.
func TestAudioGuardInotify(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "dev")
	if err := os.Mkdir(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	before := inotifyFDs(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch := AudioGuard{Root: os.DirFS(root), Interval: time.Hour, DevDir: dev}.Watch(ctx)
	next := func(what string) string {
		t.Helper()
		select {
		case v := <-ch:
			return v
		case <-time.After(10 * time.Second): // liveness only; the poll would take an hour
			t.Fatalf("%s: no verdict (inotify did not wake the guard)", what)
			return ""
		}
	}
	if v := next("start"); v != "" {
		t.Fatalf("first verdict %q, want none", v)
	}
	if n := len(inotifyFDs(t)); n != len(before)+1 {
		t.Fatalf("inotify fds: %d before, %d while watching", len(before), n)
	}
	snd := filepath.Join(dev, "snd")
	pcm := filepath.Join(snd, "pcmC0D0c")
	for round := range 2 { // the second round: snd removed and created again
		if err := os.Mkdir(snd, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pcm, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if v := next("microphone plugged"); !strings.Contains(v, "capture PCM /dev/snd/pcmC0D0c") {
			t.Fatalf("round %d: after a capture PCM appeared: %q", round, v)
		}
		if err := os.Remove(pcm); err != nil {
			t.Fatal(err)
		}
		if v := next("microphone unplugged"); v != "" {
			t.Fatalf("round %d: after it went: %q", round, v)
		}
		if err := os.Remove(snd); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	for range ch { // closes only after the watch's fd is closed
	}
	if n := len(inotifyFDs(t)); n != len(before) {
		t.Fatalf("inotify fds: %d before, %d after the guard stopped", len(before), n)
	}
}

// TestAudioGuardNoDevDir: a DevDir that cannot be watched is logged and
// the guard still answers (polling).
func TestAudioGuardNoDevDir(t *testing.T) {
	root := t.TempDir()
	var logs strings.Builder
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := AudioGuard{Root: os.DirFS(root), Interval: time.Hour, DevDir: filepath.Join(root, "missing"),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}.Watch(ctx)
	if v := <-ch; v != "" {
		t.Fatalf("first verdict %q", v)
	}
	if !strings.Contains(logs.String(), "polling only") || !strings.Contains(logs.String(), "missing") {
		t.Fatalf("no warning logged: %q", logs.String())
	}
}

func inotifyFDs(t *testing.T) []string {
	t.Helper()
	fds, err := procfd.Links(0, func(l string) bool { return strings.Contains(l, "inotify") })
	if err != nil {
		t.Fatal(err)
	}
	return fds
}
