// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

const auditExportUsage = `usage: camctl audit export (-state DIR | -file audit.jsonl) [-identity identity.json]
        [-installer-keys keys.pub] [-from TIME] [-to TIME] [-witness SEQ:HASH] -o BUNDLE.tar|DIR

Writes a self-contained evidence bundle: the records from -from to -to
(RFC 3339 times or dates; default: all), extended to the next checkpoint
that signs them, the node's signed identity, the installer public key and a
README.txt for the recipient, who checks it offline with
camctl audit verify BUNDLE.tar.`

// maxExportLines bounds how many records one export holds in memory.
const maxExportLines = 4 << 20

func cmdAuditExport(args []string, stdout, stderr io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, auditExportUsage); fs.PrintDefaults() }
	state := fs.String("state", "", "the node's state directory (audit.jsonl, and identity.json if there)")
	file := fs.String("file", "", "an audit.jsonl")
	identity := fs.String("identity", "", "the node's signed identity.json (default: DIR/identity.json)")
	keysPath := fs.String("installer-keys", "", "the installer public key file (default: DIR/installer-keys.pub)")
	fromS := fs.String("from", "", "first time to include (RFC 3339 or YYYY-MM-DD)")
	toS := fs.String("to", "", "last time to include (RFC 3339 or YYYY-MM-DD, the whole day)")
	witnessS := fs.String("witness", "", "a head the hub acknowledged, SEQ:HASH, recorded in the bundle")
	out := fs.String("o", "", "output: a .tar file or a new directory (required)")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if fs.NArg() != 0 {
		bad("unexpected argument %q", fs.Arg(0))
	}
	if (*state == "") == (*file == "") {
		bad("give one of -state DIR and -file audit.jsonl")
	}
	if *out == "" {
		bad("-o: required")
	}
	src := *file
	if *state != "" {
		src = filepath.Join(*state, bundleAudit)
	}
	dirOf := filepath.Dir(src)
	if *identity == "" {
		*identity = filepath.Join(dirOf, bundleIdentity)
	}
	if *keysPath == "" {
		*keysPath = filepath.Join(dirOf, bundleKeys)
	}
	from, err := parseWhen(*fromS, false)
	if err != nil {
		bad("-from: %v", err)
	}
	to, err := parseWhen(*toS, true)
	if err != nil {
		bad("-to: %v", err)
	}
	var witness *agent.ChainHead
	if *witnessS != "" {
		w, err := parseHead(*witnessS)
		if err != nil {
			bad("-witness: %v", err)
		}
		witness = &w
	}
	idData, err := firmware.ReadFile(*identity, firmware.MaxIdentitySize)
	if err != nil {
		bad("-identity: %v", err)
	}
	keyData, err := firmware.ReadFile(*keysPath, firmware.MaxKeyFileSize)
	if err == nil {
		_, err = firmware.ParseKeys(keyData)
	}
	if err != nil {
		bad("-installer-keys: %v", err)
	}
	if len(problems) > 0 {
		return exitError{code: 2, msg: "camctl audit export: nothing written:\n  " + strings.Join(problems, "\n  ") + "\n" + auditExportUsage}
	}
	var trail io.ReadCloser
	if *state != "" {
		trail, _, err = agent.OpenAuditTrail(*state) // rotated files too
	} else {
		trail, err = firmware.OpenRegular(src)
	}
	if err != nil {
		return exitError{code: 1, msg: "camctl audit export: nothing written: " + err.Error()}
	}
	lines, info, err := selectRecords(trail, src, from, to)
	trail.Close()
	if err != nil {
		return exitError{code: 1, msg: "camctl audit export: nothing written: " + err.Error()}
	}
	info.Created, info.Witness = now().UTC(), witness
	manifest, _ := json.MarshalIndent(info, "", "  ")
	files := []outFile{
		{bundleReadme, []byte(bundleReadmeText(info))},
		{bundleManifest, append(manifest, '\n')},
		{bundleIdentity, idData},
		{bundleKeys, keyData},
		{bundleAudit, lines},
	}
	if err := writeBundle(*out, files); err != nil {
		return exitError{code: 1, msg: "camctl audit export: " + err.Error()}
	}
	fmt.Fprintf(stdout, "wrote %s: node %s, seq %d to %d\n", *out, info.Node, info.FirstSeq, info.LastSeq)
	// The bundle is checked as its recipient will check it.
	return cmdAuditVerify([]string{*out}, stdout, stderr)
}

// parseWhen parses an RFC 3339 time or a date (the start of the day, or
// with end the last instant of it); "" is the zero time.
func parseWhen(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time or YYYY-MM-DD", s)
	}
	if end {
		d = d.AddDate(0, 0, 1).Add(-time.Nanosecond)
	}
	return d, nil
}

// selectRecords returns the lines of the records from the first with a
// time at or after from to the last at or before to, extended to the next
// checkpoint so that the range is signed.
func selectRecords(trail io.Reader, path string, from, to time.Time) ([]byte, bundleInfo, error) {
	info := bundleInfo{Format: bundleFormat, From: from, To: to}
	br := bufio.NewReaderSize(trail, agent.MaxAuditLine+1)
	var out bytes.Buffer
	n, started, done := 0, false, false
	for lineNo := 1; !done; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, info, fmt.Errorf("%s line %d: longer than any record", path, lineNo)
		}
		if err == io.EOF {
			break // a torn final line (or none) is not exported
		}
		if err != nil {
			return nil, info, err
		}
		var r agent.AuditRecord
		if err := firmware.DecodeJSON(bytes.TrimSuffix(line, []byte{'\n'}), &r); err != nil {
			return nil, info, fmt.Errorf("%s line %d: %v (verify the file with camctl audit verify)", path, lineNo, err)
		}
		if !started {
			if r.Seq == 0 || r.Time.Before(from) {
				continue
			}
			started, info.FirstSeq, info.Node = true, r.Seq, r.Node
		}
		// Past the range: records only up to the checkpoint that signs it.
		done = !to.IsZero() && r.Time.After(to) && r.Kind == agent.KindCheckpoint
		out.Write(line)
		info.LastSeq = r.Seq
		if n++; n > maxExportLines {
			return nil, info, fmt.Errorf("more than %d records: narrow -from/-to", maxExportLines)
		}
	}
	if !started {
		return nil, info, errors.New("no record in the range")
	}
	info.Partial = info.FirstSeq > 1
	return out.Bytes(), info, nil
}

// writeBundle writes files into a new tar file (name ending .tar) or a new
// directory; an existing output is never overwritten.
func writeBundle(out string, files []outFile) error {
	if !strings.HasSuffix(out, ".tar") {
		if err := os.Mkdir(out, 0o700); err != nil {
			return err
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(out, f.name), f.data, 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	fh, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(fh)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o600, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			fh.Close()
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			fh.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func bundleReadmeText(info bundleInfo) string {
	rng := "the whole trail"
	if !info.From.IsZero() || !info.To.IsZero() {
		rng = fmt.Sprintf("records from %s to %s", fmtWhen(info.From), fmtWhen(info.To))
	}
	return fmt.Sprintf(`Audit trail evidence bundle of camera node %s
=============================================

Created %s. It holds %s: seq %d to %d.

Files
  audit.jsonl         the node's audit records, one JSON line each, exactly as
                      the node wrote them (do not edit or re-save this file:
                      any change of a byte breaks verification)
  identity.json       the node's identity, signed by the installer: which node,
                      site and room, and the node's audit public key
  installer-keys.pub  the installer's public key(s)
  bundle.json         what was selected (not signed)
  README.txt          this file

How the trail is protected
  Every record carries a sequence number and the SHA-256 of the record before
  it; the first record of a node chains to its signed identity. At regular
  intervals and at every clean stop the node signs the latest record
  ("checkpoint") with its own audit key, whose public half is inside the
  installer-signed identity. A deleted, inserted, reordered or altered record
  breaks the chain or a signature.

How to check it (offline, on any machine)
  1. Obtain the installer's public key fingerprint (key id) from the practice
     through a channel you trust, NOT from this bundle.
  2. Run:   camctl audit verify THIS-BUNDLE.tar
     (or:   camctl audit verify -installer-keys TRUSTED-KEYS.pub THIS-BUNDLE.tar)
  3. A good bundle prints "VERIFIED" with the node, the seq range, how far
     it is signed and the installer key id: compare that id with step 1.
     Anything else prints "NOT VERIFIED" and the first broken record.

What it cannot show
  Records written after the last checkpoint in the bundle are not signed.
  A copy of the trail acknowledged by the hub (its "witnessed head",
  camctl audit verify -witness SEQ:HASH) shows whether records were removed
  from the end. The procedure is described in docs/audit.md of camnode.
`, info.Node, info.Created.Format(time.RFC3339), rng, info.FirstSeq, info.LastSeq)
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.Format(time.RFC3339)
}

// newAuditKey makes a node's audit key pair at provisioning: the public
// half (base64) for the signed identity, the private half as PEM for
// audit.key on the boot partition (docs/audit.md, "The audit key").
func newAuditKey() (pubB64 string, privPEM []byte) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader) // never fails
	if err != nil {
		panic(err)
	}
	privPEM, err = firmware.MarshalPrivateKey(priv)
	if err != nil {
		panic(err) // an Ed25519 key always marshals
	}
	return base64.StdEncoding.EncodeToString(pub), privPEM
}
