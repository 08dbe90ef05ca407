// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

// TestRunRecorderZone: a node configured with [recorder] listens on the
// recorder port where capture is allowed, and never opens it in a
// clinical zone (invariant 3: no server, not just no stream).
func TestRunRecorderZone(t *testing.T) {
	for _, tc := range []struct {
		zone   string
		listen bool
	}{{"waiting", true}, {"consulting", false}} {
		t.Run(tc.zone, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath, _ := writeNode(t, dir, tc.zone, "Room")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(f, `
[recorder]
listen = %q
insecure_plain = true
[[recorder.recorders]]
name = "local"
digest_ha1 = "0123456789abcdef0123456789abcdef"
`, addr)
			f.Close()
			notes, stop := startRun(t, cfgPath)
			waitNote(t, notes, "READY=1")
			c, err := net.Dial("tcp", addr)
			if c != nil {
				c.Close()
			}
			if (err == nil) != tc.listen {
				t.Errorf("zone %s: dial recorder port: %v, want listening %v", tc.zone, err, tc.listen)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPipelineIDRFromRecorder: [recorder] idr_interval sets the one
// pipeline's longest IDR interval (recorders cut segments on it); without
// a recorder the pipeline keeps its default.
func TestPipelineIDRFromRecorder(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	if pc := pipelineConfig(cfg, firmware.Identity{}, log); pc.KeyInterval != 0 {
		t.Fatalf("no recorder: KeyInterval %v, want the pipeline default", pc.KeyInterval)
	}
	cfg.Recorder.Listen, cfg.Recorder.IDRInterval = "127.0.0.1:8322", config.Duration(time.Second)
	if pc := pipelineConfig(cfg, firmware.Identity{}, log); pc.KeyInterval != time.Second {
		t.Fatalf("recorder idr_interval 1s: KeyInterval %v", pc.KeyInterval)
	}
}
