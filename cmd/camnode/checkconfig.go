// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"

	"github.com/camnode/camnode/agent/config"
)

// cmdCheckConfig validates a configuration file without running anything.
func cmdCheckConfig(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return exitError{code: 2, msg: "usage: camnode check-config FILE"}
	}
	c, err := config.Load(args[0])
	if err != nil {
		return exitError{code: 1, msg: err.Error()}
	}
	fmt.Fprintf(stdout, "%s: ok (camera %s %dx%d@%d, gpio simulated=%v)\n", args[0], c.Camera.Source, c.Camera.Width, c.Camera.Height, c.Camera.FPS, c.GPIO.Simulate)
	return nil
}
