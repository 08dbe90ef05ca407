// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"periph.io/x/host/v3"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/gpio"
)

// cmdHaltOutputs drives the privacy outputs safe, shutter closed then LED
// off, and exits. camnode.service runs it as ExecStopPost, so the outputs
// end safe after every stop, crash or watchdog kill of the agent, even if
// the agent could not do it itself.
//
//	camnode halt-outputs [-config FILE]
func cmdHaltOutputs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("halt-outputs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 0 {
		return exitError{code: 2, msg: "usage: camnode halt-outputs [-config FILE]"}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return exitError{code: 1, msg: "halt-outputs: " + err.Error()}
	}
	log := newLogger(stderr, cfg.Log).With("component", "halt-outputs")
	return haltOutputs(cfg, log, stdout, openHostGPIO)
}

// openHostGPIO opens the real pins: periph's host drivers, then gpio.Open,
// which itself drives the outputs safe before it returns.
func openHostGPIO(c gpio.Config, log *slog.Logger) (func() error, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("gpio: %w", err)
	}
	d, err := gpio.Open(c, log)
	if err != nil {
		return nil, err
	}
	return d.Halt, nil
}

// haltOutputs is cmdHaltOutputs after the configuration is loaded, with
// the GPIO opener injected for tests. open returns the devices' Halt.
func haltOutputs(cfg config.Config, log *slog.Logger, stdout io.Writer, open func(gpio.Config, *slog.Logger) (func() error, error)) error {
	if cfg.GPIO.Simulate {
		fmt.Fprintln(stdout, "halt-outputs: gpio.simulate is set; no hardware to halt")
		return nil
	}
	halt, err := open(cfg.GPIO.Config, log)
	if err != nil {
		return exitError{code: 1, msg: "halt-outputs: " + err.Error()}
	}
	// Open already halted; halt again so that the outcome is reported
	// here, whatever Open's contract becomes.
	if err := halt(); err != nil {
		return exitError{code: 1, msg: "halt-outputs: " + err.Error()}
	}
	fmt.Fprintf(stdout, "halt-outputs: shutter %s closed, led %s off\n", cfg.GPIO.Shutter, cfg.GPIO.LED)
	return nil
}
