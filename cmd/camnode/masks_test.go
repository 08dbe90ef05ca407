// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// TestMalformedMaskLocksCamera: an installer-signed identity whose mask is
// malformed does not verify, so the zone verdict locks the camera with a
// fault that names the mask; a valid mask verifies and reaches the agent.
func TestMalformedMaskLocksCamera(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	dir := t.TempDir()
	n := config.Node{IdentityFile: filepath.Join(dir, "identity.json"), InstallerKeysFile: filepath.Join(dir, "keys.pub")}
	if err := os.WriteFile(n.InstallerKeysFile, []byte(firmware.FormatKey(pub, "test")), 0o600); err != nil {
		t.Fatal(err)
	}
	id := firmware.Identity{NodeID: "c1", Site: "s", Room: "Ward 3 corridor", ZoneClass: "corridor", Installer: "i",
		IssuedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Masks: []firmware.Mask{{Rect: []float64{0.1, 0.2, 0.4, 0.9}}}}
	// sign signs a payload as an installer would, bypassing SignIdentity's
	// own validation.
	sign := func(payload []byte) {
		env, _ := json.Marshal(map[string]any{"format": firmware.IdentityFormat, "key_id": firmware.KeyID(pub),
			"payload": payload, "signature": ed25519.Sign(priv, payload)})
		if err := os.WriteFile(n.IdentityFile, env, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := json.Marshal(id)
	sign(good)
	got, err := loadIdentity(n)
	if ok, reason := agent.ZoneVerdict(got, err); err != nil || !ok || len(got.Masks) != 1 {
		t.Fatalf("valid masked identity: %v, verdict %v %q, masks %v", err, ok, reason, got.Masks)
	}
	sign(bytes.Replace(good, []byte("0.9"), []byte("1.9"), 1))
	got, err = loadIdentity(n)
	ok, reason := agent.ZoneVerdict(got, err)
	if err == nil || ok || !strings.Contains(reason, "masks[0]: rect coordinate 1.9 outside [0, 1]") {
		t.Fatalf("malformed mask: err %v, verdict %v %q; want the camera locked naming the mask", err, ok, reason)
	}
}

// TestPipelineGetsTheIdentityMasks: the node's pipeline burns in exactly
// the identity's masks (a frame through its Masker comes out filled where
// the mask is), and a node without masks has no Masker at all (not a typed
// nil, which would refuse H.264 cameras).
func TestPipelineGetsTheIdentityMasks(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if pc := pipelineConfig(config.Config{}, firmware.Identity{}, log); pc.Masker != nil {
		t.Fatalf("no masks, Masker %#v", pc.Masker)
	}
	id := firmware.Identity{Masks: []firmware.Mask{{Rect: []float64{0, 0, 1, 0.5}}}}
	pc := pipelineConfig(config.Config{}, id, log)
	if pc.Masker == nil {
		t.Fatal("masks in the identity, no Masker in the pipeline")
	}
	f := capture.Format{Width: 64, Height: 48, Pixel: capture.I420}
	frame := &capture.Frame{Format: f, Data: bytes.Repeat([]byte{200}, f.FrameSize())}
	if err := pc.Masker.Apply(frame); err != nil {
		t.Fatal(err)
	}
	if frame.Data[0] != capture.MaskFillY || frame.Data[64*24-1] != capture.MaskFillY || frame.Data[64*24] != 200 {
		t.Fatalf("top half not masked or bottom half touched: %d %d %d", frame.Data[0], frame.Data[64*24-1], frame.Data[64*24])
	}
}
