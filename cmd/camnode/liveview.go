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
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// liveView is the node's live view, or nothing (nil) when it is not
// configured. Its methods are nil-safe so runNode stays linear.
type liveView struct {
	// pipe is the frame pipeline (decode, convert, masks, encode once)
	// the live view is an output of; it is the agent's frame sink. The
	// recorder stream will be a second output of the same pipeline.
	pipe *pipeline.Pipeline
	srv  *liveview.Server
	ln   net.Listener
	cert tls.Certificate
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}
}

// newLiveView builds the live view from [liveview] when it is configured
// and capture is allowed. A live view that cannot be built (no hub key, bad
// certificate, port taken) is an error: the operator asked for it. Used
// viewer token ids are kept in stateDir (liveview.UsedTokensFile), so a
// token opens one session even across restarts.
func newLiveView(c config.LiveView, id firmware.Identity, allowed bool, stateDir string, log *slog.Logger) (*liveView, error) {
	if !c.Enabled() || !allowed {
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
	pipe, err := pipeline.New(pipelineConfig(c, id, log))
	if err != nil {
		return nil, fmt.Errorf("liveview: %w", err)
	}
	srv, err := liveview.New(liveview.Config{
		NodeID: id.NodeID, HubKey: hub, AllowedRoles: c.AllowedRoles,
		MaxViewers: c.MaxViewers, Pipeline: pipe,
		UDPPort: c.UDPPort, Interfaces: c.Interfaces, Logger: lg,
		UsedTokensPath: filepath.Join(stateDir, liveview.UsedTokensFile),
		Masks:          id.Masks, // outlined for installer-role viewers only
	})
	if err != nil {
		pipe.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		srv.Close()
		pipe.Close()
		return nil, fmt.Errorf("liveview: %w", err)
	}
	return &liveView{pipe: pipe, srv: srv, ln: ln, cert: cert, log: lg}, nil
}

// sinks returns the frame sinks to hand to the agent.
func (l *liveView) sinks() []agent.FrameSink {
	if l == nil {
		return nil
	}
	return []agent.FrameSink{l.pipe}
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
	l.pipe.Close()
}

// pipelineConfig is the frame pipeline's configuration: the live view's
// encoder settings and the identity's privacy masks, burned into every
// picture before it is encoded (invariant 7).
func pipelineConfig(c config.LiveView, id firmware.Identity, log *slog.Logger) pipeline.Config {
	pc := pipeline.Config{BitrateKbps: c.BitrateKbps, FPS: c.FPS, Logger: log.With("component", "pipeline")}
	if m := capture.NewMasker(id.Masks); m != nil {
		// Only a non-nil *Masker: a typed nil in the interface would
		// count as set and refuse every H.264 camera.
		pc.Masker = m
	}
	return pc
}
