// SPDX-License-Identifier: Apache-2.0

package push

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// attemptLog keeps the (bubble) time of each failed attempt.
type attemptLog struct {
	logSink
	tmu   sync.Mutex
	times []time.Time
}

func (l *attemptLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "cannot publish") {
		l.tmu.Lock()
		l.times = append(l.times, time.Now())
		l.tmu.Unlock()
	}
	return l.logSink.Handle(ctx, r)
}
func (l *attemptLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *attemptLog) WithGroup(string) slog.Handler      { return l }

func (l *attemptLog) since(t0 time.Time) []time.Duration {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	var d []time.Duration
	for _, t := range l.times {
		d = append(d, t.Sub(t0))
	}
	return d
}

// A hub that refuses connections is retried with exponential backoff up to
// MaxBackoff; a cut stops the retries (no connection while private) until
// frames flow again, which starts over at MinBackoff.
func TestBackoff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now: every attempt is refused
	synctest.Test(t, func(t *testing.T) {
		logs := &attemptLog{}
		p, err := New(Config{URL: "rtsp://" + addr + "/node-1", Insecure: true,
			MinBackoff: time.Second, MaxBackoff: 8 * time.Second, Logger: slog.New(logs)})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		start := time.Now()
		p.WriteAU(testAU(0, true, 100))
		time.Sleep(40 * time.Second)
		synctest.Wait()
		s := time.Second
		want := []time.Duration{0, 1 * s, 3 * s, 7 * s, 15 * s, 23 * s, 31 * s, 39 * s}
		if got := logs.since(start); !slices.Equal(got, want) {
			t.Fatalf("attempts at %v; want %v", got, want)
		}
		if m, _ := logs.find("cannot publish"); !strings.Contains(m, "refused") {
			t.Errorf("logged %q; want the refusal", m)
		}

		p.Cut()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if got := logs.since(start); len(got) != len(want) {
			t.Fatalf("attempts while private: %v", got[len(want):])
		}

		again := time.Now()
		p.WriteAU(testAU(1, false, 100)) // frames flow again
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		if got := logs.since(again)[len(want):]; !slices.Equal(got, []time.Duration{0, s}) {
			t.Fatalf("attempts after privacy off at %v; want [0s 1s]", got)
		}
	})
}
