// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// snapshotTimeout bounds how long camnode check -snapshot waits for a
// picture: a deadline to fail with the agent's state, not a measurement.
const snapshotTimeout = 30 * time.Second

// snapshotSink is the frame sink of camnode check -snapshot: it keeps the
// first frame that passes the agent's gate. It honours Cut like every
// output: a frame captured before privacy came on is dropped, and the
// picture is written (and audited) under the sink's lock after checking
// that no Cut came in between, so nothing captured before a privacy
// acknowledgement reaches the file after it.
type snapshotSink struct {
	got chan struct{} // signalled when a frame is kept

	mu     sync.Mutex
	frame  *capture.Frame // the kept frame (a copy), nil after a Cut
	epoch  uint64         // counts Cuts
	masker *capture.Masker
	masks  int
	node   string
	aud    agent.Auditor
}

func newSnapshotSink() *snapshotSink { return &snapshotSink{got: make(chan struct{}, 1)} }

// setup is called by runNode with the verified identity (its masks are
// burned in exactly as the pipeline does) and the node's audit trail.
func (s *snapshotSink) setup(id firmware.Identity, aud agent.Auditor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.masker, s.masks, s.node, s.aud = capture.NewMasker(id.Masks), len(id.Masks), id.NodeID, aud
}

// WriteFrame implements agent.FrameSink: it keeps a copy of the first frame.
func (s *snapshotSink) WriteFrame(f *capture.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frame != nil {
		return
	}
	c := *f
	c.Data = bytes.Clone(f.Data)
	s.frame = &c
	select {
	case s.got <- struct{}{}:
	default:
	}
}

// Cut implements agent.FrameSink: the gate closed (privacy came on); the
// kept frame, if any, is dropped, and a picture being written from it is
// not written.
func (s *snapshotSink) Cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frame = nil
	s.epoch++
}

// errCut: a Cut came between keeping the frame and writing the picture.
var errCut = errors.New("privacy came on before the picture was written: no snapshot")

// write masks the kept frame (decoding MJPEG first), encodes it as a JPEG,
// audits the snapshot and writes it to path, unless a Cut came first.
func (s *snapshotSink) write(path, actor string) (string, error) {
	s.mu.Lock()
	f, epoch := s.frame, s.epoch
	s.mu.Unlock()
	if f == nil {
		return "", errCut
	}
	pic := f
	switch f.Format.Pixel {
	case capture.MJPEG:
		d, err := capture.NewJPEGDecoder()
		if err != nil {
			return "", err
		}
		defer d.Close()
		pic = &capture.Frame{}
		if err := d.Decode(f.Data, pic); err != nil {
			return "", fmt.Errorf("decoding the camera's JPEG: %w", err)
		}
	case capture.H264:
		return "", errors.New("the camera sends H.264, which a snapshot cannot decode: configure camera.formats with a raw format or MJPEG")
	}
	if s.masker != nil {
		if err := s.masker.Apply(pic); err != nil {
			return "", fmt.Errorf("privacy masks: %w: no snapshot", err)
		}
	}
	img, err := capture.FrameImage(pic)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		return "", err
	}
	detail := fmt.Sprintf("%dx%d from %s, %d privacy mask(s) burned in", pic.Format.Width, pic.Format.Height, f.Format.Pixel, s.masks)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch {
		return "", errCut
	}
	// Audited before it exists: no snapshot leaves the camera unrecorded.
	if err := s.aud.Append(agent.AuditRecord{ID: agent.NewAuditID(), Time: time.Now(), Node: s.node,
		Kind: "snapshot", Source: agent.SourceLocal, Actor: actor,
		Reason: "installer snapshot (camnode check -snapshot) to " + path + ": " + detail}); err != nil {
		return "", fmt.Errorf("audit: %w: no snapshot", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*.jpg")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return detail, nil
}

// cmdSnapshot is camnode check -snapshot FILE.jpg: one masked picture, so
// the installer sees what the hub will see. It runs the node's own agent
// (LED on before the sensor streams, shutter, zone, audio guard, privacy
// state, audit trail) with the snapshot as its only output, keeps the
// first frame, burns the identity's masks in, audits it and writes it.
//
// It refuses, without opening the camera, when the identity is missing,
// unsigned or malformed or the zone does not allow capture; it takes no
// picture while privacy is on (the persisted state of the stopped
// service), and it cannot run beside camnode.service (the control socket
// is in use).
func cmdSnapshot(ctx context.Context, cfg config.Config, path string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return exitError{code: 1, msg: fmt.Sprintf("snapshot: %s: no such directory", filepath.Dir(path))}
	}
	id, idErr := loadIdentity(cfg.Node)
	if ok, reason := agent.ZoneVerdict(id, idErr); !ok {
		return exitError{code: 1, msg: "snapshot refused: " + reason + ": the camera is never opened on this node"}
	}
	hw, err := openHardware(cfg, log)
	if err != nil {
		return exitError{code: 1, msg: "snapshot: " + err.Error()}
	}
	snap := newSnapshotSink()
	nctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan *agent.Agent, 1)
	done := make(chan error, 1)
	go func() {
		done <- runNode(nctx, cfg, hw, nodeOptions{ready: func(a *agent.Agent) { ready <- a }, snapshot: snap}, log)
	}()
	finish := func(err error) error {
		stop()
		if rerr := <-done; rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			return exitError{code: 1, msg: "snapshot: " + err.Error()}
		}
		return nil
	}
	var a *agent.Agent
	select {
	case a = <-ready:
	case err := <-done:
		return exitError{code: 1, msg: fmt.Sprintf("snapshot: the node did not start: %v (is camnode.service stopped?)", err)}
	}
	// Once the owner loop answers, the persisted privacy state is loaded.
	pctx, pcancel := context.WithTimeout(ctx, snapshotTimeout)
	err = a.Ping(pctx)
	pcancel()
	if err != nil {
		return finish(fmt.Errorf("the agent did not start: %w", err))
	}
	if st := a.Status(); st.Privacy {
		return finish(errors.New("privacy is on: nothing is captured. Turn it off (camnode privacy off) with the service running, stop the service, then take the snapshot"))
	}
	deadline := time.NewTimer(snapshotTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-snap.got:
			detail, err := snap.write(path, fmt.Sprintf("local uid=%d", os.Getuid()))
			if err == nil {
				fmt.Fprintf(stdout, "snapshot written to %s (%s); recorded in the audit trail\n", path, detail)
			}
			return finish(err)
		case <-tick.C:
			if st := a.Status(); st.Privacy {
				return finish(errors.New("privacy came on: no snapshot"))
			}
		case <-deadline.C:
			st := a.Status()
			return finish(fmt.Errorf("no picture within %v (capture %s, faults %v)", snapshotTimeout, st.Capture, st.Faults))
		case <-ctx.Done():
			return finish(ctx.Err())
		case err := <-done:
			done <- err // for finish
			return finish(fmt.Errorf("the node stopped before a picture: %v", err))
		}
	}
}
