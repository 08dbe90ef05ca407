// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

// TestAuditChainOptions: the key provisioning put on the boot partition is
// moved into the state directory (0600) and signs; every way of missing it
// leaves the trail unsigned with a reason, never a failed start.
func TestAuditChainOptions(t *testing.T) {
	installer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	pem, _ := firmware.MarshalPrivateKey(key)
	otherPEM, _ := firmware.MarshalPrivateKey(other)
	log := slog.New(slog.DiscardHandler)
	setup := func(t *testing.T, auditKey string, bootKey []byte) (config.Config, firmware.Identity) {
		boot, state := t.TempDir(), t.TempDir()
		id := firmware.Identity{NodeID: "n1", Site: "s", Room: "r", ZoneClass: "corridor", Installer: "i",
			IssuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), AuditKey: auditKey}
		data, err := firmware.SignIdentity(id, installer)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(boot, "identity.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if bootKey != nil {
			if err := os.WriteFile(filepath.Join(boot, auditKeyFile), bootKey, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := config.Default()
		cfg.Node.IdentityFile, cfg.Node.StateDir = filepath.Join(boot, "identity.json"), state
		return cfg, id
	}
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))

	t.Run("adopted from the boot partition", func(t *testing.T) {
		cfg, id := setup(t, pub, pem)
		opts, unsigned := auditChainOptions(cfg, id, nil, log)
		if unsigned != "" || !key.Equal(opts.Key) {
			t.Fatalf("unsigned %q key %v", unsigned, opts.Key != nil)
		}
		data, _ := os.ReadFile(cfg.Node.IdentityFile)
		if want, _ := firmware.IdentityAnchor(data); opts.Anchor != want || opts.Anchor == "" {
			t.Fatalf("anchor %q, want %q", opts.Anchor, want)
		}
		st, err := os.Stat(filepath.Join(cfg.Node.StateDir, auditKeyFile))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("state copy: %v %v", st, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfg.Node.IdentityFile), auditKeyFile)); !os.IsNotExist(err) {
			t.Fatalf("boot copy still there: %v", err)
		}
		// Next start: from the state directory.
		if opts, unsigned := auditChainOptions(cfg, id, nil, log); unsigned != "" || !key.Equal(opts.Key) {
			t.Fatalf("second start: unsigned %q", unsigned)
		}
	})
	for _, tc := range []struct {
		name     string
		auditKey string
		bootKey  []byte
		idErr    error
		want     string
	}{
		{"no identity", pub, pem, os.ErrNotExist, "no verified identity"},
		{"identity without audit_key", "", pem, nil, "no audit_key"},
		{"no key file", pub, nil, nil, "no audit key"},
		{"another key", pub, otherPEM, nil, "is not the identity's audit_key"},
		{"garbage key", pub, []byte("not a key"), nil, "PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, id := setup(t, tc.auditKey, tc.bootKey)
			opts, unsigned := auditChainOptions(cfg, id, tc.idErr, log)
			if opts.Key != nil || !strings.Contains(unsigned, tc.want) {
				t.Fatalf("key %v unsigned %q, want %q", opts.Key != nil, unsigned, tc.want)
			}
		})
	}
}
