// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/agent/recorder"
)

// recorderStream is the node's RTSPS stream for the hub's recorder, or
// nothing (nil) when it is not configured or capture is not allowed (a
// clinical zone never opens the port). Its methods are nil-safe.
type recorderStream struct {
	srv *recorder.Server
	log *slog.Logger
}

// newRecorder builds the recorder stream from [recorder] as an output of
// the node's pipeline (nil when capture is not allowed). A stream that
// cannot be built (bad certificate, port taken) is an error: the operator
// asked for it.
func newRecorder(c config.Recorder, pipe *pipeline.Pipeline, log *slog.Logger) (*recorderStream, error) {
	if !c.Enabled() || pipe == nil {
		return nil, nil
	}
	lg := log.With("component", "recorder")
	var tc *tls.Config
	if !c.InsecurePlain {
		var err error
		if tc, err = recorder.TLSConfig(c.CertFile, c.KeyFile, c.ClientCAFile); err != nil {
			return nil, err
		}
	}
	acc := make([]recorder.Access, len(c.Recorders))
	for i, r := range c.Recorders {
		acc[i] = recorder.Access{Name: r.Name, CertName: r.CertName, DigestHA1: r.DigestHA1}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	srv, err := recorder.New(recorder.Config{Listener: ln, TLS: tc, Recorders: acc, Pipeline: pipe,
		MaxSessions: c.MaxSessions, Logger: lg})
	if err != nil {
		return nil, err
	}
	return &recorderStream{srv: srv, log: lg}, nil
}

// serve attaches the agent: sessions are admitted from now on.
func (r *recorderStream) serve(a *agent.Agent) {
	if r == nil {
		return
	}
	r.srv.SetNode(a)
	scheme := "rtsps"
	if r.srv.TLS() == nil {
		scheme = "rtsp"
	}
	r.log.Info("recorder stream listening", "url", scheme+"://"+r.srv.Addr().String()+recorder.Path)
}

// close ends every session and stops the server.
func (r *recorderStream) close() {
	if r == nil {
		return
	}
	_ = r.srv.Close()
}
