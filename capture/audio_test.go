// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"
)

// Real /proc/asound/cards contents, from a Debian 6.1 kernel with snd-dummy
// loaded (card 0) and with no sound card.
const (
	cardsDummy = " 0 [Dummy          ]: Dummy - Dummy\n                      Dummy 1\n"
	cardsNone  = "--- no soundcards ---\n"
)

func TestScanAudio(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		want string // substring; "" means no device
	}{
		{"no ALSA at all", fstest.MapFS{}, ""},
		{"no soundcards", fstest.MapFS{"proc/asound/cards": {Data: []byte(cardsNone)}}, ""},
		{"snd-dummy card", fstest.MapFS{"proc/asound/cards": {Data: []byte(cardsDummy)}}, "card 0 Dummy (Dummy - Dummy)"},
		{"capture PCM without cards file", fstest.MapFS{"dev/snd/pcmC1D0c": {}}, "capture PCM /dev/snd/pcmC1D0c"},
		{"playback PCM only is not capture", fstest.MapFS{"dev/snd/pcmC0D0p": {}, "dev/snd/controlC0": {}}, ""},
		{"unreadable cards file fails closed", fstest.MapFS{"proc/asound/cards": {Mode: 0o755 | 1<<31}}, "audio state unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ScanAudio(tc.fs)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("ScanAudio = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAudioGuardWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The watcher scans from its own goroutine while the test edits
		// the tree: guard the map (fake time gives no happens-before edge).
		fsys := &lockedFS{m: fstest.MapFS{"proc/asound/cards": {Data: []byte(cardsNone)}}}
		ctx, cancel := context.WithCancel(t.Context())
		ch := AudioGuard{Root: fsys, Interval: time.Second}.Watch(ctx)
		if v := <-ch; v != "" {
			t.Fatalf("first verdict %q, want none", v)
		}
		fsys.set("dev/snd/pcmC0D0c", &fstest.MapFile{})
		time.Sleep(1500 * time.Millisecond)
		if v := <-ch; !strings.Contains(v, "pcmC0D0c") {
			t.Fatalf("after a microphone appeared: %q", v)
		}
		fsys.set("dev/snd/pcmC0D0c", nil)
		time.Sleep(time.Second)
		if v := <-ch; v != "" {
			t.Fatalf("after it went: %q", v)
		}
		cancel()
		if _, ok := <-ch; ok {
			t.Fatal("channel not closed after cancel")
		}
	})
}

// lockedFS is a MapFS safe for one writer and concurrent readers.
type lockedFS struct {
	mu sync.Mutex
	m  fstest.MapFS
}

func (l *lockedFS) Open(name string) (fs.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Open(name)
}

// set adds or (with f nil) removes a file.
func (l *lockedFS) set(name string, f *fstest.MapFile) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f == nil {
		delete(l.m, name)
		return
	}
	l.m[name] = f
}

// TestAudioGuardSettleScan: when a card goes, the kernel removes its
// /dev/snd nodes (one inotify event) before its /proc/asound entry (no
// event). The guard scans once more SettleScan after each event, so the
// verdict clears without waiting for the poll (an hour here).
func TestAudioGuardSettleScan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := &lockedFS{m: fstest.MapFS{
			"proc/asound/cards": {Data: []byte(cardsDummy)},
			"dev/snd/pcmC0D0c":  {},
		}}
		wake := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(t.Context())
		ch := AudioGuard{Root: fsys}.watch(ctx, time.Hour, wake)
		if v := <-ch; !strings.Contains(v, "pcmC0D0c") || !strings.Contains(v, "card 0") {
			t.Fatalf("first verdict %q", v)
		}
		fsys.set("dev/snd/pcmC0D0c", nil)
		wake <- struct{}{}
		synctest.Wait()
		if v := <-ch; strings.Contains(v, "pcmC0D0c") || !strings.Contains(v, "card 0") {
			t.Fatalf("after the device node went: %q", v)
		}
		fsys.set("proc/asound/cards", &fstest.MapFile{Data: []byte(cardsNone)}) // no event for this
		time.Sleep(SettleScan)
		synctest.Wait()
		select {
		case v := <-ch:
			if v != "" {
				t.Fatalf("after the settle scan: %q", v)
			}
		default:
			t.Fatal("no verdict after the settle scan: the card's /proc entry going was missed")
		}
		cancel()
		close(wake) // as the inotify watch does once its fd is closed
		for range ch {
		}
	})
}
