// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/camnode/camnode/agent/config"
)

const checkConfigUsage = "usage: camnode check-config FILE"

// cmdCheckConfig validates a configuration file without running anything:
//
//	camnode check-config FILE
//
// Its arguments are parsed as flags (-h prints the usage), so "-h" is never
// taken for a file name; a file whose name starts with "-" is given after
// "--" or as ./-name.
func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), checkConfigUsage)
		fmt.Fprintln(fs.Output(), "Validates FILE as camnode run would load it, without running anything.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2}
	}
	if fs.NArg() != 1 {
		return exitError{code: 2, msg: checkConfigUsage}
	}
	path := fs.Arg(0)
	c, err := config.Load(path)
	if err != nil {
		return exitError{code: 1, msg: err.Error()}
	}
	fmt.Fprintf(stdout, "%s: ok (camera %s %dx%d@%d, gpio simulated=%v)\n", path, c.Camera.Source, c.Camera.Width, c.Camera.Height, c.Camera.FPS, c.GPIO.Simulate)
	return nil
}
