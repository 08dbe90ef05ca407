// SPDX-License-Identifier: Apache-2.0

// Package cli is what camnode's and camctl's main functions share: signal
// handling and the mapping of an error to an exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Coded is an error that decides the process's exit code. Its Error text,
// if not empty, is printed as is (no program-name prefix).
type Coded interface {
	error
	ExitCode() int
}

// Run is a whole command line: main only calls it, tests call it directly.
type Run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// StopSignals are the signals that cancel the context Main passes to run:
// every catchable signal that would otherwise end a Go program at once.
// For `camnode run` each is a clean stop, so the halt sequence runs (gate
// closed, capture stopped, shutter closed, LED off) before the process
// exits 0:
//
//   - SIGTERM: systemd's stop;
//   - SIGINT: Ctrl-C;
//   - SIGHUP: the terminal or SSH session went away. camnode reloads
//     nothing on SIGHUP: it stops, cleanly;
//   - SIGQUIT: Ctrl-\ (no goroutine dump: a clean stop instead).
//
// The other signals whose default action would end a C program (SIGUSR1,
// SIGUSR2, SIGALRM, SIGPWR, the real-time signals, ...) are caught and
// ignored by the Go runtime: the agent keeps running. SIGPIPE would kill it
// on a write to a closed stdout or stderr; the agent ignores it (runNode),
// so the write fails instead. Not caught: SIGKILL and SIGSTOP (cannot be),
// and the crash signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
// SIGSTKFLT and SIGABRT, systemd's watchdog signal), which end the process
// with a goroutine dump; after those, as after SIGKILL, systemd's
// ExecStopPost=camnode halt-outputs drives the outputs safe.
var StopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT}

// SignalName names a signal as kill -l does (SIGHUP).
func SignalName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	}
	return s.String()
}

// SignalError is the cause of Main's context when a signal cancelled it
// (context.Cause).
type SignalError struct{ Signal os.Signal }

func (e SignalError) Error() string { return "got " + SignalName(e.Signal) }

// NotifyContext returns a context cancelled, with a SignalError cause, by
// the first of StopSignals. Later signals are still caught (and do
// nothing), so a second Ctrl-C cannot cut the halt sequence short. stop
// releases the signals.
func NotifyContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, StopSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(SignalError{Signal: s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// Main runs run with a context that StopSignals cancel, then exits: 0 on
// success, the code of a Coded error, 1 for any other error.
func Main(name string, run Run) {
	ctx, stop := NotifyContext(context.Background())
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(Report(os.Stderr, name, err))
}

// Report prints err to w and returns the exit code for it.
func Report(w io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	var c Coded
	if errors.As(err, &c) {
		if msg := c.Error(); msg != "" {
			fmt.Fprintln(w, msg)
		}
		return c.ExitCode()
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	return 1
}
