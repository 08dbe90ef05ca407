// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/firmware"
)

// TestRemoveBootAuditKey: the boot copy of the audit key is removed once
// the agent's protected copy (0600, the same key) exists; it is kept while
// there is no protected copy, when that copy is readable by others, or when
// it is another key (the boot copy may then be the only copy of the key the
// identity names).
func TestRemoveBootAuditKey(t *testing.T) {
	pem := func(b byte) []byte {
		k, err := firmware.MarshalPrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, tc := range []struct {
		name        string
		boot, state []byte
		stateMode   os.FileMode
		wantRemoved bool
		wantErr     string
	}{
		{"protected copy exists", pem(1), pem(1), 0o600, true, ""},
		{"no protected copy yet", pem(1), nil, 0, false, ""},
		{"no boot copy", nil, pem(1), 0o600, false, ""},
		{"protected copy readable by the group", pem(1), pem(1), 0o640, false, "readable by its owner only"},
		{"another key", pem(1), pem(2), 0o600, false, "re-provisioned"},
		{"protected copy damaged", pem(1), []byte("junk"), 0o600, false, "kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			boot, state := filepath.Join(dir, "boot"), filepath.Join(dir, "state")
			for _, d := range []string{boot, state} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if tc.boot != nil {
				if err := os.WriteFile(filepath.Join(boot, auditKeyFile), tc.boot, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.state != nil {
				if err := os.WriteFile(filepath.Join(state, auditKeyFile), tc.state, tc.stateMode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(state, auditKeyFile), tc.stateMode); err != nil {
					t.Fatal(err)
				}
			}
			removed, err := removeBootAuditKey(state, boot)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			_, statErr := os.Lstat(filepath.Join(boot, auditKeyFile))
			gone := os.IsNotExist(statErr)
			if tc.wantRemoved != (removed != "") || (tc.boot != nil && gone != tc.wantRemoved) {
				t.Fatalf("removed %q, boot copy gone %v; want removed %v", removed, gone, tc.wantRemoved)
			}
			if tc.state != nil {
				if got, _ := os.ReadFile(filepath.Join(state, auditKeyFile)); !bytes.Equal(got, tc.state) {
					t.Fatal("the protected copy changed")
				}
			}
		})
	}
}
