// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/camnode/camnode/firmware"
)

// cmdKeygen makes an Ed25519 key pair for an installer (signs identities)
// or a hub (signs viewer tokens):
//
//	camctl keygen -kind installer|hub -out PREFIX [-comment TEXT]
//
// PREFIX.key is the private key, PEM PKCS#8, mode 0600. PREFIX.pub is the
// public half: for an installer, one line in the installer key-file format
// (it goes into the nodes' installer-keys.pub); for a hub, a PEM "PUBLIC
// KEY" block after a comment line (it goes to camctl provision -hub-key),
// a format the installer key file refuses. It refuses to overwrite either.
func cmdKeygen(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "", "installer or hub (required)")
	out := fs.String("out", "", "output prefix: writes PREFIX.key and PREFIX.pub (required)")
	comment := fs.String("comment", "", "comment for the .pub line (default: the kind)")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	var errs []string
	switch *kind {
	case "installer", "hub":
	case "":
		errs = append(errs, "-kind: required (installer or hub)")
	default:
		errs = append(errs, fmt.Sprintf("-kind: %q must be installer or hub", *kind))
	}
	if *out == "" {
		errs = append(errs, "-out: required (a path prefix such as keys/installer-alice)")
	}
	if strings.ContainsAny(*comment, "\r\n") {
		errs = append(errs, "-comment: must be one line")
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if len(errs) > 0 {
		return exitError{code: 2, msg: "camctl keygen: " + strings.Join(errs, "; ")}
	}
	c := *comment
	if c == "" {
		c = *kind
	}
	keyPath, pubPath, err := writeKeyPair(*out, *kind, c, rand.Reader)
	if err != nil {
		return exitError{code: 1, msg: "camctl keygen: " + err.Error()}
	}
	fmt.Fprintf(stdout, "wrote %s (private, 0600) and %s\n", keyPath, pubPath)
	return nil
}

// writeKeyPair generates a key of kind (installer or hub) from random and
// writes PREFIX.key and PREFIX.pub, neither of which may exist. On failure
// nothing is left.
func writeKeyPair(prefix, kind, comment string, random io.Reader) (keyPath, pubPath string, err error) {
	keyPath, pubPath = prefix+".key", prefix+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s exists; refusing to overwrite", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
	}
	pub, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return "", "", err
	}
	pemKey, err := firmware.MarshalPrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	pubData := []byte(firmware.FormatKey(pub, comment))
	if kind == "hub" {
		pemPub, err := firmware.MarshalPublicKey(pub)
		if err != nil {
			return "", "", err
		}
		pubData = append([]byte("camnode hub public key (verifies viewer tokens; camctl provision -hub-key): "+comment+"\n"), pemPub...)
	}
	if err := writeNew(keyPath, pemKey, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, pubData, 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", err
	}
	return keyPath, pubPath, nil
}

// writeNew creates path exclusively with mode perm (whatever the umask)
// and writes data; on failure it removes what it created.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// readPrivateKey reads an Ed25519 private key written by keygen.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	priv, err := firmware.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}
