// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/capture"
)

type probeFunc = func(c config.Camera, needRaw bool, log *slog.Logger) (capture.ProbeInfo, error)

// auditedProbe records the check run in the audit trail before probe opens
// the camera (docs/audit.md: every check run that opens the camera is
// recorded). A run that cannot be recorded does not open the camera.
func auditedProbe(probe probeFunc, record func(detail string) error) probeFunc {
	return func(c config.Camera, needRaw bool, log *slog.Logger) (capture.ProbeInfo, error) {
		if err := record(fmt.Sprintf("camnode check opens %s to list its formats", c.Device)); err != nil {
			return capture.ProbeInfo{}, fmt.Errorf("not opened: the check run could not be recorded in the audit trail: %w", err)
		}
		return probe(c, needRaw, log)
	}
}

// checkRecorder records a check run through the running agent (op
// audit_check: the agent writes it, the actor from the kernel); with no
// agent listening, in the spool the agent moves into the chain at its next
// start.
func checkRecorder(ctx context.Context, n config.Node) func(detail string) error {
	return func(detail string) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := agent.Control(ctx, n.ControlSocket, agent.ControlRequest{Op: "audit_check", Check: detail})
		switch {
		case err == nil && resp.OK:
			return nil
		case err == nil:
			return errors.New(resp.Error)
		case !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED):
			return err
		}
		rec := agent.CheckAudit(agent.SourceLocal, fmt.Sprintf("uid=%d pid=%d (no agent running)", os.Getuid(), os.Getpid()), detail)
		rec.ID, rec.Time = agent.NewAuditID(), time.Now()
		return agent.SpoolCheck(n.StateDir, rec)
	}
}
