// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// trailKinds returns the kinds of the records in the node's audit trail,
// after checking that it verifies as a chain.
func trailKinds(t *testing.T, stateDir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.VerifyAudit(bytes.NewReader(data), agent.VerifyOptions{}); err != nil {
		t.Fatalf("trail does not verify: %v\n%s", err, data)
	}
	var out []string
	for l := range bytes.Lines(data) {
		var r agent.AuditRecord
		if err := firmware.DecodeJSON(bytes.TrimSpace(l), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Kind)
	}
	return out
}

// TestRunRecordsLife: camnode run records its boot, the clock's sync
// state and its clean stop; a run that was killed (the running marker
// left behind) is recorded as a crash at the next start.
func TestRunRecordsLife(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeNode(t, dir, "waiting", "Waiting area")
	state := filepath.Join(dir, "state")
	run1 := func() {
		notes, stop := startRun(t, cfgPath)
		waitNote(t, notes, "READY=1")
		if err := stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	run1()
	got := strings.Join(trailKinds(t, state), ",")
	if !strings.HasPrefix(got, "boot,") || !strings.Contains(got, ",clock,") || !strings.Contains(got, ",stop") || strings.Contains(got, "crash") {
		t.Fatalf("first run recorded %s; want boot first, a clock record, a stop and no crash", got)
	}
	// A kill -9 leaves the marker saying running.
	life := filepath.Join(state, agent.LifeFile)
	data, err := os.ReadFile(life)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(life, bytes.Replace(data, []byte(`"running":false`), []byte(`"running":true`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	run1()
	all := strings.Join(trailKinds(t, state), ",")
	if second := strings.TrimPrefix(all, got+","); !strings.HasPrefix(second, "crash,boot,") {
		t.Fatalf("second run after a kill recorded %s; want crash, then boot", second)
	}
}

// TestRunBackfillsOutbox: a record that reached audit.jsonl but not the
// MQTT outbox (a crash between the two writes) is queued for the hub at
// the next start, in chain order.
func TestRunBackfillsOutbox(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeNode(t, dir, "waiting", "Waiting area")
	f, err := os.OpenFile(cfgPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A broker nobody listens on: the link retries, the outbox fills.
	f.WriteString("[mqtt]\nbrokers = [\"tcp://127.0.0.1:9\"]\ninsecure = true\n")
	f.Close()
	state := filepath.Join(dir, "state")
	run := func() {
		notes, stop := startRun(t, cfgPath)
		waitNote(t, notes, "READY=1")
		if err := stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	run()
	// The crash: one more record in the chain only.
	chain, err := agent.OpenAuditChain(filepath.Join(state, agent.CurrentAuditFile), agent.ChainOptions{Node: "node-7"})
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Append(agent.AuditRecord{ID: "chain-only", Node: "node-7", Kind: agent.KindPrivacy, Source: agent.SourceButton, Privacy: "on"}); err != nil {
		t.Fatal(err)
	}
	chain.Close()
	run()
	outbox, err := os.ReadFile(filepath.Join(state, "audit-outbox.jsonl"))
	if err != nil || !strings.Contains(string(outbox), `"id":"chain-only"`) {
		t.Fatalf("the chain-only record is not in the outbox after a restart: %v\n%s", err, outbox)
	}
}
