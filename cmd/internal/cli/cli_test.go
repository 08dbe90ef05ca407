// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

type coded struct {
	code int
	msg  string
}

func (c coded) Error() string { return c.msg }
func (c coded) ExitCode() int { return c.code }

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    int
		printed string
	}{
		{nil, 0, ""},
		{errors.New("boom"), 1, "prog: boom\n"},
		{coded{3, "refused: clinical zone"}, 3, "refused: clinical zone\n"},
		{coded{2, ""}, 2, ""},
		{fmt.Errorf("wrapped: %w", coded{4, "x"}), 4, "x\n"},
	} {
		var b bytes.Buffer
		if got := Report(&b, "prog", tc.err); got != tc.code || b.String() != tc.printed {
			t.Errorf("Report(%v) = %d, %q; want %d, %q", tc.err, got, b.String(), tc.code, tc.printed)
		}
	}
}

// TestNotifyContextEverySignal sends each of StopSignals to this process:
// each must cancel the context with the signal as its cause (not kill the
// process, as SIGHUP, SIGQUIT or SIGUSR1 would by default).
func TestNotifyContextEverySignal(t *testing.T) {
	for _, sig := range StopSignals {
		t.Run(SignalName(sig), func(t *testing.T) {
			ctx, stop := NotifyContext(context.Background())
			defer stop()
			if err := syscall.Kill(os.Getpid(), sig.(syscall.Signal)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(30 * time.Second): // a deadline to fail, not a timing assertion
				t.Fatalf("%v did not cancel the context", sig)
			}
			var se SignalError
			if !errors.As(context.Cause(ctx), &se) || se.Signal != sig {
				t.Fatalf("cause = %v, want %v", context.Cause(ctx), sig)
			}
		})
	}
	for _, want := range []os.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT} {
		if !slices.Contains(StopSignals, want) {
			t.Errorf("%v is not a stop signal", want)
		}
	}
}

func TestSignalName(t *testing.T) {
	for sig, want := range map[os.Signal]string{syscall.SIGHUP: "SIGHUP", syscall.SIGQUIT: "SIGQUIT"} {
		if got := SignalName(sig); got != want {
			t.Errorf("SignalName(%v) = %q, want %q", sig, got, want)
		}
	}
}
