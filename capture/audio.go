// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// The audio guard proves that the node has no way to record sound. camnode
// never links or opens an audio API: it only looks at what the kernel
// exposes. Any ALSA card in /proc/asound/cards, or any capture PCM node
// /dev/snd/pcmC*D*c, is a verdict of "present", and the agent then refuses
// or stops capture (invariant 4). If the guard cannot read those places it
// reports that too, as present: it fails closed.

// ScanAudio returns a description of the audio devices found under root
// (normally os.DirFS("/")), or "" when there is none. What it cannot read
// or does not recognise is reported as "audio state unknown": it fails
// closed.
func ScanAudio(root fs.FS) string {
	var found []string
	for _, f := range []struct {
		name  string
		parse func([]byte) ([]string, error)
	}{{"proc/asound/cards", parseCards}, {"proc/asound/pcm", parsePCM}} {
		b, err := readProc(root, f.name)
		if errors.Is(err, fs.ErrNotExist) {
			// No ALSA in this kernel at all, or /proc/asound absent:
			// nothing to see there. /dev/snd is still checked below.
			continue
		}
		if err == nil {
			var devs []string
			devs, err = f.parse(b)
			found = append(found, devs...)
		}
		if err != nil {
			return "audio state unknown: /" + f.name + ": " + err.Error()
		}
	}
	pcms, err := fs.Glob(root, "dev/snd/pcmC*D*c")
	if err != nil {
		return "audio state unknown: " + err.Error()
	}
	for _, p := range pcms {
		found = append(found, "capture PCM /"+p)
	}
	if len(found) == 0 {
		return ""
	}
	slices.Sort(found)
	return strings.Join(slices.Compact(found), "; ")
}

// maxProcFile caps what is read of a /proc/asound file: the kernel writes
// at most a few lines per card (32 cards at most).
const maxProcFile = 64 << 10

// readProc reads a /proc/asound file, at most maxProcFile bytes (more is
// an error: that is no kernel's file).
func readProc(root fs.FS, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProcFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxProcFile {
		return nil, fmt.Errorf("longer than %d bytes", maxProcFile)
	}
	return b, nil
}

// noCards is /proc/asound/cards without any card.
const noCards = "--- no soundcards ---"

// parseCards extracts "card N: ID (name)" from /proc/asound/cards. The
// kernel writes, per card, "%2i [%-15s]: %s - %s" (" 0 [Dummy          ]:
// Dummy - Dummy", "10 [Loopback       ]: ...": no leading space from card 10
// on) and an indented line with the long name, or only noCards. Any other
// line is an error: a format the guard does not know is not "no card".
func parseCards(b []byte) ([]string, error) {
	var out []string
	for line := range bytes.Lines(b) {
		l := strings.TrimRight(string(line), "\r\n")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if l == noCards {
			continue
		}
		f := strings.TrimLeft(l, " ")
		num, rest, ok := strings.Cut(f, " [")
		id, name, ok2 := strings.Cut(rest, "]:")
		if ok && ok2 && num != "" && strings.Trim(num, "0123456789") == "" {
			out = append(out, fmt.Sprintf("card %s %s (%s)", num, strings.TrimSpace(id), strings.TrimSpace(name)))
			continue
		}
		if len(out) > 0 && strings.HasPrefix(l, " ") {
			continue // a card's long name
		}
		return out, fmt.Errorf("unexpected line %s", quoteShort(l))
	}
	return out, nil
}

// parsePCM lists the capture streams of /proc/asound/pcm, whose lines the
// kernel writes as "%02i-%02i: %s : %s" followed by " : playback %i" and
// " : capture %i" for the directions the device has ("00-00: Dummy PCM :
// Dummy PCM : playback 8 : capture 8"). A line in another format is an
// error; so is a "capture" the guard cannot place.
func parsePCM(b []byte) ([]string, error) {
	var out []string
	for line := range bytes.Lines(b) {
		l := strings.TrimRight(string(line), "\r\n")
		if strings.TrimSpace(l) == "" {
			continue
		}
		dev, rest, ok := strings.Cut(l, ": ")
		c, d, ok2 := strings.Cut(dev, "-")
		if !ok || !ok2 || !digits(c) || !digits(d) {
			return out, fmt.Errorf("unexpected line %s", quoteShort(l))
		}
		fields := strings.Split(rest, " : ")
		capture := false
		for _, f := range fields[1:] {
			if n, ok := strings.CutPrefix(f, "capture "); ok && digits(n) {
				capture = true
			}
		}
		if !capture && strings.Contains(l, "capture") {
			return out, fmt.Errorf("unexpected line %s", quoteShort(l))
		}
		if capture {
			out = append(out, fmt.Sprintf("capture PCM %s (%s)", dev, strings.TrimSpace(fields[0])))
		}
	}
	return out, nil
}

func digits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// quoteShort quotes s for a message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q...", s[:64])
	}
	return fmt.Sprintf("%q", s)
}

// SettleScan is how long after a device-node event the audio guard scans
// once more.
const SettleScan = 200 * time.Millisecond

// AudioGuard watches for audio devices: it rescans at once when a device
// node appears in or vanishes from DevDir (inotify, Linux), and polls every
// Interval in any case, as the backstop for what inotify cannot see
// (/proc/asound) and for a watch that failed.
type AudioGuard struct {
	Root     fs.FS         // filesystem root; normally os.DirFS("/")
	Interval time.Duration // poll period; at most 2s is sensible
	// DevDir is the real path of Root's dev directory (normally "/dev");
	// empty means poll only.
	DevDir string
	// Logger, if set, hears once that the inotify watch could not be set.
	Logger *slog.Logger
}

// Watch emits the current verdict ("" when no audio device is present),
// then each change, until ctx is done; then it closes the channel, after
// the inotify watch (if any) is closed too.
func (g AudioGuard) Watch(ctx context.Context) <-chan string {
	iv := g.Interval
	if iv <= 0 {
		iv = time.Second
	}
	var wake <-chan struct{}
	if g.DevDir != "" {
		// Set before the first scan, so nothing created in between is missed.
		w, err := devWake(ctx, g.DevDir)
		if err != nil && g.Logger != nil {
			g.Logger.Warn("audio guard: no inotify watch; polling only", "interval", iv, "err", err)
		}
		wake = w
	}
	return g.watch(ctx, iv, wake)
}

// watch is Watch's loop, woken by the poll, by wake and by the settle scan
// after each wake. wake, if not nil, must be closed after ctx ends.
func (g AudioGuard) watch(ctx context.Context, iv time.Duration, wake <-chan struct{}) <-chan string {
	ch := make(chan string, 1)
	go func() {
		defer close(ch)
		defer func() {
			// wake closes after the watch's fd is closed: when ch closes,
			// nothing of the guard is left open.
			for wake != nil {
				if _, ok := <-wake; !ok {
					return
				}
			}
		}()
		last := ScanAudio(g.Root)
		select {
		case ch <- last:
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(iv)
		defer t.Stop()
		// A device-node event is followed by one more scan: when a card
		// goes, the kernel removes /dev/snd/* before its /proc/asound
		// entry, and nothing else would wake us until the next poll.
		settle := time.NewTimer(time.Hour)
		settle.Stop()
		defer settle.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-settle.C:
			case _, ok := <-wake:
				if !ok {
					wake = nil // watch ended: poll only
					continue
				}
				settle.Reset(min(SettleScan, iv))
			}
			if v := ScanAudio(g.Root); v != last {
				last = v
				select {
				case ch <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch
}
