// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

// auditKeyFile is the node's audit private key (PEM PKCS#8 Ed25519), as
// camctl provision writes it next to identity.json on the boot partition
// and as the agent keeps it in its state directory (docs/audit.md, "The
// audit key").
const auditKeyFile = "audit.key"

// auditChainOptions returns how the audit chain is opened: anchored to the
// verified identity and signed with the audit key that identity names. It
// never fails: what is missing makes the trail unanchored or unsigned, and
// unsigned says why (the caller records it as a fault).
func auditChainOptions(cfg config.Config, id firmware.Identity, idErr error, log *slog.Logger) (opts agent.ChainOptions, unsigned string) {
	opts = agent.ChainOptions{Node: id.NodeID, CheckpointEvery: cfg.Audit.CheckpointEvery,
		CheckpointInterval: time.Duration(cfg.Audit.CheckpointInterval), Logger: log,
		RotateSize: cfg.Audit.RotateSize, RotateAge: time.Duration(cfg.Audit.RotateAge),
		KeepSize: cfg.Audit.KeepSize, KeepAge: time.Duration(cfg.Audit.KeepAge)}
	if idErr != nil {
		return opts, "no verified identity"
	}
	if data, err := firmware.ReadFile(cfg.Node.IdentityFile, firmware.MaxIdentitySize); err == nil {
		opts.Anchor, _ = firmware.IdentityAnchor(data) // decoded once already
	}
	if id.AuditKey == "" {
		return opts, "the identity has no audit_key (provisioned before signed audit trails?)"
	}
	want, err := firmware.DecodePublicKey(id.AuditKey)
	if err != nil {
		return opts, "identity audit_key: " + err.Error()
	}
	key, err := loadAuditKey(cfg.Node.StateDir, filepath.Dir(cfg.Node.IdentityFile), log)
	if err != nil {
		return opts, err.Error()
	}
	if !want.Equal(key.Public()) {
		return opts, fmt.Sprintf("the audit key (key id %s) is not the identity's audit_key (key id %s)", firmware.KeyID(key.Public().(ed25519.PublicKey)), firmware.KeyID(want))
	}
	opts.Key = key
	return opts, ""
}

// loadAuditKey reads the audit key from the state directory. On the first
// start it is only on the boot partition (FAT, readable by every local
// user): it is copied into the state directory (0600, the agent's user,
// directory 0700) and the boot copy removed; if the removal fails (the
// partition is read-only to the agent), that is logged loudly and the copy
// stays (docs/audit.md: remove it).
func loadAuditKey(stateDir, bootDir string, log *slog.Logger) (ed25519.PrivateKey, error) {
	statePath := filepath.Join(stateDir, auditKeyFile)
	data, err := firmware.ReadFile(statePath, firmware.MaxKeyFileSize)
	bootPath := filepath.Join(bootDir, auditKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		if data, err = firmware.ReadFile(bootPath, firmware.MaxKeyFileSize); err != nil {
			return nil, fmt.Errorf("no audit key: %w", err)
		}
		if _, err := firmware.ParsePrivateKey(data); err != nil {
			return nil, fmt.Errorf("audit key %s: %w", bootPath, err)
		}
		if err := agent.WriteFileAtomic(statePath, data, 0o600); err != nil {
			return nil, fmt.Errorf("audit key: keeping it in the state directory: %w", err)
		}
		log.Info("audit key moved into the state directory", "path", statePath)
	} else if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if _, serr := os.Lstat(bootPath); serr == nil {
		if rerr := os.Remove(bootPath); rerr != nil {
			log.Error("audit key: the copy on the boot partition is readable by every local user and could not be removed; remove it as root", "path", bootPath, "err", rerr)
		}
	}
	key, err := firmware.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", statePath, err)
	}
	return key, nil
}
