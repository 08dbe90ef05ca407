// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/firmware"
)

// cmdToken mints a live-view token signed with the hub key:
//
//	camctl token -key hub.key -node ID -viewer NAME -role staff -purpose "..." [-ttl 10m]
//
// The token (one line) goes to stdout. It opens one session on that node,
// within ttl (at most one hour).
func cmdToken(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "hub private key, PEM PKCS#8 Ed25519 (camctl keygen -kind hub) (required)")
	node := fs.String("node", "", "node id the token is for (required)")
	viewer := fs.String("viewer", "", "who will watch (required)")
	role := fs.String("role", "", "viewer's role, e.g. staff or security (required)")
	purpose := fs.String("purpose", "", "why they watch, recorded in the node's audit trail (required)")
	ttl := fs.Duration("ttl", 10*time.Minute, "lifetime, at most 1h")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	var errs []string
	if *keyFile == "" {
		errs = append(errs, "-key: required")
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if len(errs) > 0 {
		return exitError{code: 2, msg: "camctl token: " + strings.Join(errs, "; ")}
	}
	data, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	priv, err := firmware.ParsePrivateKey(data)
	if err != nil {
		return err
	}
	tok, err := token.Mint(priv, *node, *viewer, *role, *purpose, time.Now(), *ttl)
	if err != nil {
		return exitError{code: 2, msg: "camctl " + err.Error()}
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
