// SPDX-License-Identifier: Apache-2.0

// Command camctl is the hub's and the technicians' tool: it watches nodes
// over MQTT, switches their privacy, reads their audit trail, makes keys and
// provisions SD-card images.
package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/camnode/camnode/cmd/internal/cli"
)

func main() { cli.Main("camctl", run) }

// exitError ends the command with a specific exit code (e.g. 3 for a
// refusal) and message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
func (e exitError) ExitCode() int { return e.code }

// command is one subcommand; each lives in its own file.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// commands lists the subcommands; each is implemented in its own file.
var commands = map[string]command{
	"keygen":    {"make an installer or hub Ed25519 key pair", cmdKeygen},
	"provision": {"write identity, keys and config into a Raspberry Pi OS image", cmdProvision},
	"watch":     {"live table of nodes from their MQTT status", cmdWatch},
	"privacy":   {"switch a node's privacy: camctl privacy NODE on|off", cmdPrivacy},
	"audit":     {"print a node's audit trail from MQTT; audit verify|export: check or bundle a trail offline", cmdAudit},
	"token":     {"mint a live-view token for a node", cmdToken},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: camctl COMMAND [flags]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return exitError{code: 2}
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "camctl: unknown command %q\n", args[0])
		usage(stderr)
		return exitError{code: 2}
	}
	return c.run(ctx, args[1:], stdin, stdout, stderr)
}
