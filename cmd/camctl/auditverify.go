// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// Names inside an evidence bundle (a directory or a tar file) and in a
// node's state directory (docs/audit.md, "Export").
const (
	bundleAudit    = "audit.jsonl"
	bundleIdentity = "identity.json"
	bundleKeys     = "installer-keys.pub"
	bundleManifest = "bundle.json"
	bundleReadme   = "README.txt"
	// BundleFormat tags bundle.json.
	bundleFormat = "camnode-audit-bundle/1"
	// maxBundleAudit bounds the trail read from a tar bundle (a directory
	// or a file is streamed).
	maxBundleAudit = 256 << 20
)

// bundleInfo is bundle.json: what export selected. It is not signed; the
// trail inside is (checkpoints), and verify reports the seq range it finds.
type bundleInfo struct {
	Format   string           `json:"format"`
	Node     string           `json:"node"`
	Created  time.Time        `json:"created"`
	From     time.Time        `json:"from,omitzero"`
	To       time.Time        `json:"to,omitzero"`
	FirstSeq uint64           `json:"first_seq"`
	LastSeq  uint64           `json:"last_seq"`
	Partial  bool             `json:"partial"`
	Witness  *agent.ChainHead `json:"witness,omitempty"`
}

const auditVerifyUsage = `usage: camctl audit verify [-identity identity.json] [-installer-keys keys.pub]
        [-partial] [-witness SEQ:HASH | -witness-file FILE] FILE|DIR|BUNDLE.tar

Checks a node's audit trail offline: the installer's signature on the
identity, every record's link to the one before (seq 1: to the identity),
sequence gaps, every checkpoint's signature by the node's audit key, and
(with -witness) the head the hub acknowledged. A DIR or BUNDLE.tar (from
camctl audit export, or a node's state directory) supplies audit.jsonl and,
unless given by flags, identity.json, installer-keys.pub and bundle.json.
Exit status 0: verified; 1: not verified (the first broken record is named).`

func cmdAuditVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, auditVerifyUsage); fs.PrintDefaults() }
	identity := fs.String("identity", "", "the node's signed identity.json (default: the bundle's)")
	keysPath := fs.String("installer-keys", "", "installer public key file(s) to trust (default: the bundle's; compare its key id with one you trust)")
	partial := fs.Bool("partial", false, "accept a trail that starts after seq 1 (an exported range)")
	witness := fs.String("witness", "", "a chain head the hub acknowledged, SEQ:HASH")
	witnessFile := fs.String("witness-file", "", "the hub's -witness-file of camctl audit (instead of -witness)")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 1 {
		return exitError{code: 2, msg: auditVerifyUsage}
	}
	b, err := openBundle(fs.Arg(0))
	if err != nil {
		return exitError{code: 2, msg: "camctl audit verify: " + err.Error()}
	}
	defer b.close()
	opts := agent.VerifyOptions{Partial: *partial || b.info.Partial, Witness: b.info.Witness}
	var idData, keyData []byte
	if *identity != "" {
		if idData, err = firmware.ReadFile(*identity, firmware.MaxIdentitySize); err != nil {
			return exitError{code: 2, msg: "camctl audit verify: -identity: " + err.Error()}
		}
	} else if idData = b.identity; idData == nil {
		return exitError{code: 2, msg: "camctl audit verify: no identity: give -identity identity.json (the trail is checked against the node's signed identity)"}
	}
	if *keysPath != "" {
		if keyData, err = firmware.ReadFile(*keysPath, firmware.MaxKeyFileSize); err != nil {
			return exitError{code: 2, msg: "camctl audit verify: -installer-keys: " + err.Error()}
		}
	} else if keyData = b.keys; keyData == nil {
		return exitError{code: 2, msg: "camctl audit verify: no installer keys: give -installer-keys keys.pub"}
	}
	if opts.InstallerKeys, err = firmware.ParseKeys(keyData); err != nil {
		return exitError{code: 2, msg: "camctl audit verify: " + err.Error()}
	}
	if *witnessFile != "" {
		if *witness != "" {
			return exitError{code: 2, msg: "camctl audit verify: give -witness or -witness-file, not both"}
		}
		h, err := loadWitness(*witnessFile)
		if err == nil && h == nil {
			err = os.ErrNotExist
		}
		if err != nil {
			return exitError{code: 2, msg: "camctl audit verify: -witness-file: " + err.Error()}
		}
		*witness = fmt.Sprintf("%d:%s", h.Seq, h.Hash)
	}
	if *witness != "" {
		w, err := parseHead(*witness)
		if err != nil {
			return exitError{code: 2, msg: "camctl audit verify: -witness: " + err.Error()}
		}
		opts.Witness = &w
	}
	opts.Identity = idData
	rep, verr := agent.VerifyAudit(b.audit, opts)
	for _, w := range rep.Warning {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if verr != nil {
		fmt.Fprintf(stdout, "NOT VERIFIED: %s: %v\n", b.auditName, verr)
		// A record is confirmed only by the next one's prev (or a
		// checkpoint): the last record read before the break is not.
		if rep.Records > 1 {
			fmt.Fprintf(stdout, "  confirmed by the chain: seq %d to %d; from seq %d on, nothing is\n", rep.First, rep.Last-1, rep.Last)
		} else if rep.Records == 1 {
			fmt.Fprintf(stdout, "  no record is confirmed by the chain (it breaks after seq %d)\n", rep.First)
		}
		return exitError{code: 1}
	}
	keyIDs := make([]string, len(opts.InstallerKeys))
	for i, k := range opts.InstallerKeys {
		keyIDs[i] = firmware.KeyID(k)
	}
	fmt.Fprintf(stdout, "VERIFIED: audit trail of node %s: seq %d to %d (%d records, %d checkpoints); signed by the node's audit key up to seq %d\n",
		rep.Node, rep.First, rep.Last, rep.Records, rep.Checkpoints, rep.Signed)
	fmt.Fprintf(stdout, "  head: seq %d sha256 %s\n", rep.Last, rep.Head)
	if rep.Sessions > 0 {
		fmt.Fprintf(stdout, "  sessions: %d started, %d without an end record (see the warnings)\n", rep.Sessions, rep.Unended)
	}
	fmt.Fprintf(stdout, "  identity signed by a pinned installer key (trusted key ids: %s): make sure you trust it independently of this bundle\n", strings.Join(keyIDs, ", "))
	if opts.Witness != nil {
		fmt.Fprintf(stdout, "  contains the head the hub witnessed: seq %d\n", opts.Witness.Seq)
	}
	return nil
}

// parseHead parses SEQ:HASH.
func parseHead(s string) (agent.ChainHead, error) {
	seqS, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(seqS, 10, 64)
	if !ok || err != nil || seq == 0 || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return agent.ChainHead{}, fmt.Errorf("%q: want SEQ:HASH (seq > 0, 64 lower-case hex digits)", s)
	}
	return agent.ChainHead{Seq: seq, Hash: hash}, nil
}

// bundle is what verify reads: a trail and, optionally, what came with it.
type bundle struct {
	audit     io.Reader
	auditName string
	identity  []byte
	keys      []byte
	info      bundleInfo
	close     func()
}

// openBundle opens a trail file, a directory (a bundle or a node's state
// directory) or a tar bundle.
func openBundle(path string) (*bundle, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	b := &bundle{close: func() {}}
	optional := func(name string, max int64) ([]byte, error) {
		data, err := firmware.ReadFile(filepath.Join(path, name), max)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return data, err
	}
	switch {
	case fi.IsDir():
		if b.identity, err = optional(bundleIdentity, firmware.MaxIdentitySize); err != nil {
			return nil, err
		}
		if b.keys, err = optional(bundleKeys, firmware.MaxKeyFileSize); err != nil {
			return nil, err
		}
		info, err := optional(bundleManifest, firmware.MaxStateFileSize)
		if err != nil {
			return nil, err
		}
		if info != nil {
			if err := parseBundleInfo(info, &b.info); err != nil {
				return nil, err
			}
		}
		// A node's state directory may hold rotated files before
		// audit.jsonl (docs/audit.md, "Retention"): read them in chain order.
		r, names, err := agent.OpenAuditTrail(path)
		if err != nil {
			return nil, err
		}
		b.auditName = names[len(names)-1]
		if len(names) > 1 {
			for i, n := range names {
				names[i] = filepath.Base(n)
			}
			b.auditName = fmt.Sprintf("%s (%d files in order: %s; line numbers count across them)", path, len(names), strings.Join(names, " "))
		}
		b.audit, b.close = r, func() { r.Close() }
		return b, nil
	case !strings.HasSuffix(path, ".tar"):
		f, err := firmware.OpenRegular(path)
		if err != nil {
			return nil, err
		}
		b.audit, b.auditName, b.close = f, path, func() { f.Close() }
		return b, nil
	}
	return openTarBundle(path, b)
}

func parseBundleInfo(data []byte, info *bundleInfo) error {
	if err := firmware.DecodeJSON(data, info); err != nil {
		return fmt.Errorf("%s: %w", bundleManifest, err)
	}
	if info.Format != bundleFormat {
		return fmt.Errorf("%s: format %q, want %q", bundleManifest, info.Format, bundleFormat)
	}
	return nil
}

func openTarBundle(path string, b *bundle) (*bundle, error) {
	f, err := firmware.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReader(f))
	limits := map[string]int64{bundleAudit: maxBundleAudit, bundleIdentity: firmware.MaxIdentitySize,
		bundleKeys: firmware.MaxKeyFileSize, bundleManifest: firmware.MaxStateFileSize, bundleReadme: 1 << 20}
	got := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		max, known := limits[name]
		if !known || h.Typeflag != tar.TypeReg || got[name] != nil {
			return nil, fmt.Errorf("%s: unexpected entry %q (a bundle holds %s, %s, %s, %s and %s once each)", path, h.Name, bundleAudit, bundleIdentity, bundleKeys, bundleManifest, bundleReadme)
		}
		if h.Size > max {
			return nil, fmt.Errorf("%s: %s is %d bytes, more than %d", path, name, h.Size, max)
		}
		data, err := io.ReadAll(io.LimitReader(tr, max))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		got[name] = data // never nil: a present empty file is not absent
	}
	if got[bundleAudit] == nil {
		return nil, fmt.Errorf("%s: no %s in the bundle", path, bundleAudit)
	}
	if m := got[bundleManifest]; m != nil {
		if err := parseBundleInfo(m, &b.info); err != nil {
			return nil, err
		}
	}
	b.audit, b.auditName = bytes.NewReader(got[bundleAudit]), path+":"+bundleAudit
	b.identity, b.keys = got[bundleIdentity], got[bundleKeys]
	return b, nil
}
