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
	"github.com/camnode/camnode/agent/recorder/push"
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
	if !c.Serves() || pipe == nil {
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

// pushStream publishes the node's stream to the hub ([recorder] push), or
// is nothing (nil) when push is not configured or capture is not allowed
// (a clinical zone never connects). Its methods are nil-safe.
type pushStream struct {
	pub  *push.Publisher
	pipe *pipeline.Pipeline
}

// newPush builds the publisher from [recorder] push_* and adds it to the
// node's pipeline (nil when there is no pipeline: capture not allowed).
// It connects once frames flow (privacy off). The agent audits its
// sessions. A publisher that cannot be built (unreadable CA, open
// password file) is an error: the operator asked for it.
func newPush(c config.Recorder, pipe *pipeline.Pipeline, a *agent.Agent, log *slog.Logger) (*pushStream, error) {
	if !c.Pushes() || pipe == nil {
		return nil, nil
	}
	pub, err := push.New(pushConfig(c, pipe, a, log))
	if err != nil {
		return nil, err
	}
	pipe.Add(pub)
	log.Info("pushing the recorder stream to the hub", "component", "push", "url", pub.Target())
	return &pushStream{pub: pub, pipe: pipe}, nil
}

// pushConfig is [recorder] push_* as the publisher takes it; `camnode
// check` builds the same to check the files.
func pushConfig(c config.Recorder, pipe *pipeline.Pipeline, a *agent.Agent, log *slog.Logger) push.Config {
	pc := push.Config{URL: c.Push, Insecure: c.PushInsecurePlain, CAFile: c.PushCAFile,
		CertFile: c.PushCertFile, KeyFile: c.PushKeyFile, User: c.PushUser, PasswordFile: c.PushPasswordFile,
		Logger: log.With("component", "push")}
	if pipe != nil {
		pc.RequestKeyframe = pipe.RequestKeyframe
	}
	if a != nil {
		pc.Auditor, pc.OnChange = a, a.Refresh // the status shows a change at once
	}
	return pc
}

// close takes the publisher out of the pipeline and ends its session.
func (p *pushStream) close() {
	if p == nil {
		return
	}
	p.pipe.Remove(p.pub)
	p.pub.Close()
}
