// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

// cmdAuditKeyCleanup removes the boot partition's copy of the audit key
// once the agent's protected copy exists (docs/audit.md, "The audit key").
// camnode.service runs it as root (ExecStartPre=-+ and ExecStartPost=-+):
// the agent itself cannot, the unit makes the boot partition read-only for
// it, and the FAT partition is readable by every local user.
//
//	camnode audit-key-cleanup [-config FILE]
func cmdAuditKeyCleanup(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit-key-cleanup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 0 {
		return exitError{code: 2, msg: "usage: camnode audit-key-cleanup [-config FILE]"}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return exitError{code: 1, msg: "audit-key-cleanup: " + err.Error()}
	}
	removed, err := removeBootAuditKey(cfg.Node.StateDir, filepath.Dir(cfg.Node.IdentityFile))
	switch {
	case err != nil:
		return exitError{code: 1, msg: "audit-key-cleanup: " + err.Error()}
	case removed != "":
		fmt.Fprintf(stdout, "audit-key-cleanup: removed %s (the agent's copy is in %s)\n", removed, cfg.Node.StateDir)
	}
	return nil
}

// removeBootAuditKey removes bootDir/audit.key when stateDir/audit.key is
// the same key, a regular file readable by its owner only. It returns the
// path it removed ("" when there was nothing to do: no boot copy, or no
// protected copy yet, e.g. before the agent's first start). A boot copy
// that is a different key (a re-provisioned node whose agent still holds
// the old one) is left alone and reported: deleting it would lose the
// only copy of the key the identity names.
func removeBootAuditKey(stateDir, bootDir string) (string, error) {
	bootPath := filepath.Join(bootDir, auditKeyFile)
	if _, err := os.Lstat(bootPath); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	statePath := filepath.Join(stateDir, auditKeyFile)
	fi, err := os.Lstat(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil // the agent has not copied it yet
	}
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is not a regular file readable by its owner only (mode %v): %s kept", statePath, fi.Mode(), bootPath)
	}
	keep, err := readAuditKey(statePath)
	if err != nil {
		return "", fmt.Errorf("%w: %s kept", err, bootPath)
	}
	boot, err := readAuditKey(bootPath)
	if err != nil {
		return "", fmt.Errorf("%w: %s kept", err, bootPath)
	}
	if !bytes.Equal(keep, boot) {
		return "", fmt.Errorf("%s is not the key in %s (re-provisioned?): %s kept", bootPath, statePath, bootPath)
	}
	if err := os.Remove(bootPath); err != nil {
		return "", err
	}
	if d, err := os.Open(bootDir); err == nil {
		d.Sync()
		d.Close()
	}
	return bootPath, nil
}

// readAuditKey reads and parses an audit key file; it returns the key's seed.
func readAuditKey(path string) ([]byte, error) {
	data, err := firmware.ReadFile(path, firmware.MaxKeyFileSize)
	if err != nil {
		return nil, err
	}
	k, err := firmware.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k.Seed(), nil
}
