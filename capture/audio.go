// SPDX-License-Identifier: Apache-2.0

package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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

// AudioGuard polls for audio devices.
type AudioGuard struct {
	Root     fs.FS         // filesystem root; normally os.DirFS("/")
	Interval time.Duration // poll period; at most 2s is sensible
}

// Watch emits the current verdict ("" when no audio device is present),
// then each change, until ctx is done; then it closes the channel.
func (g AudioGuard) Watch(ctx context.Context) <-chan string {
	iv := g.Interval
	if iv <= 0 {
		iv = time.Second
	}
	ch := make(chan string, 1)
	go func() {
		defer close(ch)
		last := ScanAudio(g.Root)
		select {
		case ch <- last:
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
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
