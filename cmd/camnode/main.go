// SPDX-License-Identifier: Apache-2.0

// Command camnode is the agent that runs on each camera node, and the
// technician's local tool to talk to it.
//
//	camnode run [-config FILE]          run the agent (systemd starts this)
//	camnode demo                        synthetic camera, simulated GPIO, zero setup
//	camnode privacy on|off|status       switch privacy through the local socket
//	camnode check-config FILE           validate a configuration file
//	camnode check [-config FILE]        installer's self-test
//	camnode halt-outputs [-config FILE] force the outputs safe (after a crash)
//	camnode version
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/camnode/camnode/cmd/internal/cli"
)

// defaultConfig is the configuration file every command reads when given
// no -config: run, check and halt-outputs agree on it, and it is where
// camctl provision writes the file and the shipped systemd unit reads it.
const defaultConfig = "/boot/firmware/camnode/camnode.toml"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { cli.Main("camnode", run) }

// exitError ends the command with a specific exit code (e.g. 3 for a
// refusal) and message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
func (e exitError) ExitCode() int { return e.code }

const usage = `usage:
  camnode run [-config FILE]        run the agent
  camnode demo [flags]              run a self-contained demo node
  camnode privacy on|off|status     switch privacy on the running agent
  camnode check-config FILE         validate a configuration file
  camnode check [-config FILE]      installer's self-test of this node
  camnode halt-outputs [-config F]  drive the LED off and the shutter closed (systemd ExecStopPost)
  camnode audit-key-cleanup [-config F]  remove the boot partition's audit key once the agent has its copy (root)
  camnode version                   print the version
`

// run is the whole CLI; main only maps its error to an exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{code: 2}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdin, stdout, stderr)
	case "privacy":
		return cmdPrivacy(ctx, rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "halt-outputs":
		return cmdHaltOutputs(ctx, rest, stdout, stderr)
	case "audit-key-cleanup":
		return cmdAuditKeyCleanup(rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "camnode", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "camnode: unknown command %q\n%s", cmd, usage)
	return exitError{code: 2}
}
