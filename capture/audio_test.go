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

// asoundCases are /proc/asound contents, real ones (Debian 6.1 on amd64
// and arm64, Raspberry Pi OS) and hostile ones. They feed TestScanAudio
// and are the seeds of FuzzAudioGuard. want is a substring of the verdict;
// "" means no audio device.
var asoundCases = []struct {
	name       string
	cards, pcm string
	noCards    bool // no cards file (no ALSA)
	noPCM      bool // no pcm file
	want       string
}{
	{name: "no ALSA at all", noCards: true, noPCM: true},
	{name: "no soundcards", cards: cardsNone, want: ""},
	{name: "no soundcards, empty pcm", cards: cardsNone, pcm: "", want: ""},
	{name: "snd-dummy card", cards: cardsDummy, pcm: "00-00: Dummy PCM : Dummy PCM : playback 8 : capture 8\n",
		want: "card 0 Dummy (Dummy - Dummy)"},
	{name: "snd-dummy capture PCM", cards: cardsDummy, pcm: "00-00: Dummy PCM : Dummy PCM : playback 8 : capture 8\n",
		want: "capture PCM 00-00 (Dummy PCM)"},
	{name: "snd-aloop", cards: " 0 [Loopback       ]: Loopback - Loopback\n                      Loopback 1\n",
		pcm:  "00-00: Loopback PCM : Loopback PCM : playback 8 : capture 8\n00-01: Loopback PCM : Loopback PCM : playback 8 : capture 8\n",
		want: "card 0 Loopback (Loopback - Loopback)"},
	{name: "Raspberry Pi HDMI, playback only", noPCM: true,
		cards: " 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n                      vc4-hdmi-0\n 1 [vc4hdmi1       ]: vc4-hdmi - vc4-hdmi-1\n                      vc4-hdmi-1\n",
		want:  "card 1 vc4hdmi1 (vc4-hdmi - vc4-hdmi-1)"},
	{name: "playback-only pcm without a card line is still present", cards: cardsNone,
		pcm: "00-00: MAI PCM i2s-hifi-0 : MAI PCM i2s-hifi-0 : playback 1\n", want: ""},
	{name: "card 10 has no leading space", noPCM: true,
		cards: "10 [Device         ]: USB-Audio - USB PnP Sound Device\n                      C-Media USB PnP Sound Device at usb-0000:01:00.0-1.3, full speed\n",
		want:  "card 10 Device (USB-Audio - USB PnP Sound Device)"},
	{name: "empty long name", cards: " 0 [X              ]: drv - short\n                      \n", want: "card 0 X (drv - short)"},
	{name: "no trailing newline", cards: " 0 [Dummy          ]: Dummy - Dummy", want: "card 0 Dummy"},
	{name: "card after a huge line fails closed", cards: strings.Repeat("x", 100_000) + "\n" + cardsDummy, want: "audio state unknown"},
	{name: "long blank line with no newline", cards: strings.Repeat(" ", 60_000), want: ""},
	{name: "card line after a long blank line", cards: strings.Repeat(" ", 60_000) + "\n" + cardsDummy, want: "card 0 Dummy"},
	{name: "NUL bytes", cards: "\x00\x00 0 [Dummy]: a - b\n", want: "audio state unknown"},
	{name: "NUL inside a card line", cards: " 0 [Du\x00mmy]: Dummy - Dummy\n", want: "card 0 Du\x00mmy"},
	{name: "unknown format fails closed", cards: "sound card here\n", want: "audio state unknown"},
	{name: "no soundcards then garbage", cards: cardsNone + "garbage\n", want: "audio state unknown"},
	{name: "indented line without a card", cards: "   something\n", want: "audio state unknown"},
	{name: "pcm garbage fails closed", cards: cardsNone, pcm: "capture everything\n", want: "audio state unknown"},
	{name: "pcm capture in an odd place", cards: cardsNone, pcm: "00-00: a : b : capture\n", want: "audio state unknown"},
	{name: "pcm capture only", cards: cardsNone, pcm: "01-02: USB Audio : USB Audio : capture 1\n", want: "capture PCM 01-02 (USB Audio)"},
	{name: "CRLF", cards: " 0 [Dummy          ]: Dummy - Dummy\r\n", want: "card 0 Dummy"},
	{name: "oversized cards file", cards: cardsNone + strings.Repeat("\n", maxProcFile), want: "audio state unknown"},
}

// asoundFS is the tree for one case.
func asoundFS(cards, pcm string, noCards, noPCM bool) fstest.MapFS {
	m := fstest.MapFS{}
	if !noCards {
		m["proc/asound/cards"] = &fstest.MapFile{Data: []byte(cards)}
	}
	if !noPCM {
		m["proc/asound/pcm"] = &fstest.MapFile{Data: []byte(pcm)}
	}
	return m
}

func TestScanAudio(t *testing.T) {
	for _, tc := range asoundCases {
		t.Run(tc.name, func(t *testing.T) {
			got := ScanAudio(asoundFS(tc.cards, tc.pcm, tc.noCards, tc.noPCM))
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("ScanAudio = %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		want string // substring; "" means no device
	}{
		{"capture PCM without cards file", fstest.MapFS{"dev/snd/pcmC1D0c": {}}, "capture PCM /dev/snd/pcmC1D0c"},
		{"playback PCM only is not capture", fstest.MapFS{"dev/snd/pcmC0D0p": {}, "dev/snd/controlC0": {}}, ""},
		{"unreadable cards file fails closed", fstest.MapFS{"proc/asound/cards": {Mode: 0o755 | 1<<31}}, "audio state unknown"},
		{"unreadable pcm file fails closed", fstest.MapFS{"proc/asound/cards": {Data: []byte(cardsNone)}, "proc/asound/pcm": {Mode: 0o755 | 1<<31}}, "audio state unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ScanAudio(tc.fs)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("ScanAudio = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzAudioGuard feeds arbitrary /proc/asound/cards and pcm contents to
// the guard. It must never panic, and it may say "no audio" only when the
// cards file holds nothing but "--- no soundcards ---" (and blank lines)
// and the pcm file names no capture stream: whatever else the kernel (or
// an attacker) wrote is a card or an unknown state, never "none".
func FuzzAudioGuard(f *testing.F) {
	for _, tc := range asoundCases {
		if !tc.noCards && !tc.noPCM && len(tc.cards)+len(tc.pcm) < 4096 {
			f.Add(tc.cards, tc.pcm)
		}
	}
	f.Fuzz(func(t *testing.T, cards, pcm string) {
		got := ScanAudio(asoundFS(cards, pcm, false, false))
		if got != "" {
			return
		}
		for l := range strings.Lines(cards) {
			if l := strings.TrimRight(l, "\r\n"); strings.TrimSpace(l) != "" && l != noCards {
				t.Fatalf("no audio reported for cards %q (line %q)", cards, l)
			}
		}
		if strings.Contains(pcm, "capture") {
			t.Fatalf("no audio reported for pcm %q", pcm)
		}
	})
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
