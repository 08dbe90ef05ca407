// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// fakeListener is a net.Listener fed by the test: first the queued errors,
// then the queued connections (net.Pipe, so that deadlines run on the
// synctest bubble's clock).
type fakeListener struct {
	mu     sync.Mutex
	errs   []error
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newFakeListener(errs ...error) *fakeListener {
	return &fakeListener{errs: errs, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.UnixAddr{Name: "fake", Net: "unix"} }

// dial hands the server one end of a pipe and returns the other. It fails
// the test if the server stopped accepting (the bubble's clock makes the
// deadline instant in real time).
func (l *fakeListener) dial(t *testing.T) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client
	case <-time.After(time.Hour):
		t.Fatal("the control socket no longer accepts connections")
		return nil
	}
}

// syncLog is a slog destination safe for concurrent use.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestControlSurvivesAcceptErrorsAndFloods: the control socket used to die
// for good on its first accept error (EMFILE from an idle-connection flood
// with a low fd limit), with nothing logged. Now: accept errors are logged
// (rate-limited) and retried; a flood of idle connections fills at most
// maxControlClients slots, the next connection is told "busy"; idle
// connections are closed after controlIdleTimeout; and through all of it
// the button and the hub's path (SetPrivacy) keep working, and afterwards
// "privacy on" over the socket works again.
func TestControlSurvivesAcceptErrorsAndFloods(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		emfile := &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
		// Eight failures back off 5 ms, 10 ms, ... 640 ms: 1.3 s in all,
		// within one acceptLogEvery.
		errs := make([]error, 8)
		for i := range errs {
			errs[i] = emfile
		}
		ln := newFakeListener(errs...)
		var logs syncLog
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() {
			served <- r.a.ServeControl(ctx, ln, slog.New(slog.NewTextHandler(&logs, nil)))
		}()
		stopped := false
		t.Cleanup(func() {
			cancel()
			if !stopped {
				<-served
			}
		})

		// The accept errors: retried with backoff, logged once (the rest
		// within acceptLogEvery are counted, not logged).
		idle := make([]net.Conn, maxControlClients)
		for i := range idle {
			idle[i] = ln.dial(t) // accepted only once the errors are through
		}
		synctest.Wait()
		if n := strings.Count(logs.String(), "accept failed"); n != 1 || !strings.Contains(logs.String(), "too many open files") ||
			!strings.Contains(logs.String(), "accepting again") || !strings.Contains(logs.String(), "failures=8") {
			t.Fatalf("%d accept-failure log lines, want 1 naming EMFILE, then the recovery with the count:\n%s", n, logs.String())
		}

		// The flood fills every slot: the next client is told busy and
		// closed.
		extra := ln.dial(t)
		extra.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := bufio.NewReader(extra).ReadBytes('\n')
		var resp ControlResponse
		if err != nil || json.Unmarshal(line, &resp) != nil || resp.OK || !strings.Contains(resp.Error, "busy") {
			t.Fatalf("client over the cap got %q, %v; want a busy answer", line, err)
		}
		if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("busy connection not closed: %v", err)
		}

		// Meanwhile the button and the hub path work: the agent's request
		// channel is not blocked by the socket.
		if st := r.a.Status(); st.Privacy {
			t.Fatalf("rig not live: %+v", st)
		}
		r.btn.Press()
		for !r.a.Status().Privacy || r.a.Status().LED {
			time.Sleep(10 * time.Millisecond) // fake time
		}
		hctx, hcancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := r.a.SetPrivacy(hctx, false, SourceHub, "hub"); err != nil {
			t.Fatalf("hub privacy off during the flood: %v", err)
		}
		hcancel()

		// Idle connections time out and free their slots.
		time.Sleep(controlIdleTimeout + time.Second)
		for i, c := range idle {
			c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("idle connection %d still open after %v: %v", i, controlIdleTimeout, err)
			}
		}

		// A technician's "privacy on" over the socket works again.
		c := ln.dial(t)
		c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write([]byte(`{"op":"privacy","privacy":"on"}` + "\n")); err != nil {
			t.Fatal(err)
		}
		line, err = bufio.NewReader(c).ReadBytes('\n')
		resp = ControlResponse{}
		if err != nil || json.Unmarshal(line, &resp) != nil || !resp.OK || resp.Status == nil || !resp.Status.Privacy || resp.Status.LED {
			t.Fatalf("privacy on after the flood: %q, %v", line, err)
		}
		c.Close()

		cancel()
		stopped = true
		if err := <-served; err != nil {
			t.Fatalf("ServeControl: %v", err)
		}
		r.stop()
	})
}

// A listener closed under ServeControl (not by its context) is an error,
// not a busy loop of retries.
func TestControlListenerClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		ln := newFakeListener()
		ln.Close()
		if err := r.a.ServeControl(context.Background(), ln, nil); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ServeControl on a closed listener = %v, want net.ErrClosed", err)
		}
		r.stop()
	})
}
