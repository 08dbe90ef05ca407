// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// StartEmbeddedBroker runs an in-process broker (mochi-mqtt) for the demo
// and tests: plaintext, no authentication, so addr must be a loopback
// address ("127.0.0.1:0" picks a free port). It returns the broker URL and
// a stop function; ctx ending also stops it.
func StartEmbeddedBroker(ctx context.Context, addr string, log *slog.Logger) (url string, stop func(), err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("embedded broker: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", nil, fmt.Errorf("embedded broker: %q is not a loopback address; the embedded broker has no TLS or authentication", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("embedded broker: %w", err)
	}
	// mochi logs the listener's "use of closed network connection" as a
	// warning while it shuts down; after stop began, its records are noise.
	closing := new(atomic.Bool)
	mlog := slog.New(untilClosing{log.With("component", "embedded-broker").Handler(), closing})
	srv := mochi.New(&mochi.Options{InlineClient: false, Logger: mlog})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		ln.Close()
		return "", nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewNet("loopback", ln)); err != nil {
		ln.Close()
		return "", nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("embedded broker: %w", err)
	}
	url = "tcp://" + ln.Addr().String()
	log.Warn("embedded MQTT broker: PLAINTEXT, NO AUTHENTICATION, loopback only (demo/test use)", "url", url)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		closing.Store(true)
		srv.Close()
	}()
	return url, func() { cancel(); <-done }, nil
}

// untilClosing passes records on until closing is set.
type untilClosing struct {
	slog.Handler
	closing *atomic.Bool
}

func (h untilClosing) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.closing.Load() && h.Handler.Enabled(ctx, l)
}

func (h untilClosing) WithAttrs(a []slog.Attr) slog.Handler {
	return untilClosing{h.Handler.WithAttrs(a), h.closing}
}

func (h untilClosing) WithGroup(name string) slog.Handler {
	return untilClosing{h.Handler.WithGroup(name), h.closing}
}
