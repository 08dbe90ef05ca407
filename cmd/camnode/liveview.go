// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/liveview"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/firmware"
)

// liveView is the node's live view, or nothing (nil) when it is not
// configured. Its methods are nil-safe so runNode stays linear.
type liveView struct {
	srv  *liveview.Server
	ln   net.Listener
	cert tls.Certificate
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}
}

// newLiveView builds the live view from [liveview] as an output of the
// node's pipeline, when it is configured and capture is allowed (pipe is
// nil otherwise). A live view that cannot be built (no hub key, bad
// certificate, port taken) is an error: the operator asked for it. Used
// viewer token ids are kept in stateDir (liveview.UsedTokensFile), so a
// token opens one session even across restarts.
func newLiveView(c config.LiveView, id firmware.Identity, pipe *pipeline.Pipeline, stateDir string, log *slog.Logger) (*liveView, error) {
	if !c.Enabled() || pipe == nil {
		return nil, nil
	}
	if id.HubKey == "" {
		return nil, errors.New("liveview: the identity has no hub_key to verify viewer tokens")
	}
	hub, err := firmware.DecodePublicKey(id.HubKey)
	if err != nil {
		return nil, fmt.Errorf("liveview: hub_key: %w", err)
	}
	cert, err := firmware.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("liveview: certificate: %w", err)
	}
	lg := log.With("component", "liveview")
	srv, err := liveview.New(liveview.Config{
		NodeID: id.NodeID, HubKey: hub, AllowedRoles: c.AllowedRoles,
		MaxViewers: c.MaxViewers, Pipeline: pipe,
		UDPPort: c.UDPPort, Interfaces: c.Interfaces, Logger: lg,
		UsedTokensPath: filepath.Join(stateDir, liveview.UsedTokensFile),
		Masks:          id.Masks, // outlined for installer-role viewers only
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("liveview: %w", err)
	}
	return &liveView{srv: srv, ln: ln, cert: cert, log: lg}, nil
}

// serve attaches the agent and serves HTTPS until ctx is done.
func (l *liveView) serve(ctx context.Context, a *agent.Agent) {
	if l == nil {
		return
	}
	l.srv.SetNode(a)
	ctx, l.stop = context.WithCancel(ctx)
	l.done = make(chan struct{})
	l.log.Info("live view listening", "https", l.ln.Addr().String(), "udp", l.srv.UDPAddrs())
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ctx, l.ln, l.cert); err != nil {
			l.log.Error("live view stopped", "err", err)
		}
	}()
}

// close waits for the HTTPS server and ends every session.
func (l *liveView) close() {
	if l == nil {
		return
	}
	if l.done != nil {
		l.stop()
		<-l.done
	} else {
		l.ln.Close()
	}
	_ = l.srv.Close()
}
