// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

// clockCheckInterval is how often the clocks are compared for jumps.
const clockCheckInterval = time.Minute

// startAuditLife records the start in the audit trail (a crash of the last
// run, identity and configuration changes, the boot: agent.StartLife) and
// returns what records the stop. A panic leaves the node marked running,
// so the next start records it as a crash.
func startAuditLife(cfg config.Config, node string, aud agent.Auditor, log *slog.Logger) (stop func(runErr error)) {
	facts := agent.LifeFacts{Version: version, BootID: agent.BootID(), PID: os.Getpid(), ClockSync: agent.ClockSyncState()}
	if data, err := firmware.ReadFile(cfg.Node.IdentityFile, firmware.MaxIdentitySize); err == nil {
		facts.Identity = data
	}
	facts.Config, _ = json.Marshal(cfg) // the effective configuration, comments and layout aside
	// Check runs made while no agent ran come first: they happened before.
	if n, err := agent.IngestCheckSpool(cfg.Node.StateDir, aud, node); err != nil {
		log.Error("audit: moving spooled check records into the trail", "err", err)
	} else if n > 0 {
		log.Info("audit: check runs recorded while the agent was stopped moved into the trail", "records", n)
	}
	life, err := agent.StartLife(cfg.Node.StateDir, facts, aud, node, time.Now)
	if err != nil {
		log.Error("audit: recording the start", "err", err)
	}
	return func(runErr error) {
		reason := "agent stopped"
		if runErr != nil {
			reason += ": " + runErr.Error()
		}
		if err := life.Stop(reason); err != nil {
			log.Error("audit: recording the stop; the next start will report an unclean stop", "err", err)
		}
	}
}

// watchClock records clock jumps and sync state changes until ctx ends.
func watchClock(ctx context.Context, a *agent.Agent, log *slog.Logger) {
	w := &agent.ClockWatch{Record: a.Record}
	check := func() {
		if err := w.Check(); err != nil {
			log.Error("audit: clock record", "err", err)
		}
	}
	check()
	t := time.NewTicker(clockCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}
