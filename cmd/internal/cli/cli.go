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

// Main runs run with a context that SIGINT and SIGTERM cancel, then exits:
// 0 on success, the code of a Coded error, 1 for any other error.
func Main(name string, run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
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
