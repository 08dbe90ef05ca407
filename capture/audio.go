// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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
// (normally os.DirFS("/")), or "" when there is none.
func ScanAudio(root fs.FS) string {
	var found []string
	cards, err := fs.ReadFile(root, "proc/asound/cards")
	switch {
	case err == nil:
		found = append(found, parseCards(cards)...)
	case errors.Is(err, fs.ErrNotExist):
		// No ALSA in this kernel at all, or /proc/asound absent: nothing
		// to see there. /dev/snd is still checked below.
	default:
		return "audio state unknown: " + err.Error()
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

// parseCards extracts "card N: ID (name)" from /proc/asound/cards, whose
// card lines look like " 0 [Dummy          ]: Dummy - Dummy 1".
func parseCards(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, " ") && strings.Contains(line, "]:") {
			f := strings.TrimSpace(line)
			num, rest, _ := strings.Cut(f, " ")
			id := ""
			if i, j := strings.Index(rest, "["), strings.Index(rest, "]"); i >= 0 && j > i {
				id = strings.TrimSpace(rest[i+1 : j])
			}
			name := ""
			if _, after, ok := strings.Cut(rest, "]:"); ok {
				name = strings.TrimSpace(after)
			}
			out = append(out, fmt.Sprintf("card %s %s (%s)", num, id, name))
		}
	}
	return out
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
