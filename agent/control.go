// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/camnode/camnode/firmware"
)

// The local control socket lets a technician on the node switch privacy:
// `camnode privacy on|off|status`. One JSON request per line, one JSON
// response per line. The socket is mode 0660, so only root and the
// socket's group may use it; the actor recorded in the audit trail is the
// peer's uid from the kernel (SO_PEERCRED), not anything the client says.

// ControlRequest is one request on the control socket.
type ControlRequest struct {
	Op string `json:"op"` // "privacy", "status" or "audit_check"
	// Privacy is "on" or "off" for Op "privacy".
	Privacy string `json:"privacy,omitempty"`
	// Check says what `camnode check` is about to do with the camera, for
	// Op "audit_check": recorded (kind "check") before it opens it.
	Check string `json:"check,omitempty"`
}

// ControlResponse answers a ControlRequest.
type ControlResponse struct {
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Refused bool    `json:"refused,omitempty"` // the rules refused; nothing changed
	Status  *Status `json:"status,omitempty"`
}

// Control socket limits.
const (
	// maxControlLine bounds one request line.
	maxControlLine = 4096
	// maxControlClients bounds the connections served at once; one more is
	// answered "busy" and closed, so a flood of idle connections cannot
	// take the node's file descriptors or shut technicians out for good.
	maxControlClients = 16
	// controlIdleTimeout closes a connection that sends no complete request
	// for this long. `camnode privacy` sends its request at once.
	controlIdleTimeout = 10 * time.Second
	// controlWriteTimeout bounds writing one answer.
	controlWriteTimeout = 10 * time.Second
	// acceptBackoffMin and acceptBackoffMax bound the pause after a failed
	// accept (EMFILE, ENFILE, ENOBUFS, ...): the socket keeps working once
	// the cause is gone, without spinning while it lasts.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// acceptLogEvery rate-limits the log of failed accepts.
	acceptLogEvery = 10 * time.Second
)

// busyResponse answers a connection over maxControlClients.
var busyResponse = ControlResponse{Error: fmt.Sprintf("busy: %d clients connected; try again", maxControlClients)}

// ListenControl creates the control socket at path with mode 0660, owned by
// group if it is not empty. A stale socket file is replaced; any other file
// at path is an error.
func ListenControl(path, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control: %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("control: %s is in use by another agent", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("control: group %q: %w", group, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control: %w", err)
		}
	}
	return ln, nil
}

// ServeControl answers control requests on ln until ctx is done. A failed
// accept (out of file descriptors, say) is logged, rate-limited, and
// retried after a pause that doubles up to acceptBackoffMax: the socket
// never dies of it. At most maxControlClients connections are served at
// once; each is closed after controlIdleTimeout without a request. It
// returns an error only if ln is closed under it.
func (a *Agent) ServeControl(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxControlClients)
	var (
		backoff    time.Duration
		lastLog    time.Time
		suppressed int
		failures   int  // since the last successful accept
		logged     bool // one of those failures was logged
	)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("control: %w", err)
			}
			failures++
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			if now := time.Now(); lastLog.IsZero() || now.Sub(lastLog) >= acceptLogEvery {
				log.Error("control socket: accept failed; retrying", "err", err, "retry_in", backoff,
					"failures_not_logged", suppressed)
				lastLog, suppressed, logged = now, 0, true
			} else {
				suppressed++
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		if failures > 0 {
			// Once per logged episode, so never more often than the
			// failures themselves are logged.
			if logged {
				log.Warn("control socket: accepting again", "failures", failures)
			}
			backoff, failures, logged = 0, 0, false
		}
		select {
		case slots <- struct{}{}:
		default:
			// Full: say so at once (a fresh socket's buffer takes the
			// short line) and close.
			c.SetWriteDeadline(time.Now().Add(time.Second))
			json.NewEncoder(c).Encode(busyResponse)
			c.Close()
			log.Warn("control socket: busy; connection refused", "clients", maxControlClients)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			defer c.Close()
			closeOnDone := context.AfterFunc(ctx, func() { c.Close() })
			defer closeOnDone()
			a.serveConn(ctx, c, log)
		})
	}
}

func (a *Agent) serveConn(ctx context.Context, c net.Conn, log *slog.Logger) {
	actor := "local " + peerName(c)
	r := bufio.NewReaderSize(c, maxControlLine)
	enc := json.NewEncoder(c)
	for {
		c.SetReadDeadline(time.Now().Add(controlIdleTimeout))
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
			enc.Encode(ControlResponse{Error: fmt.Sprintf("request longer than %d bytes", maxControlLine)})
			return
		}
		if err != nil {
			return
		}
		resp := a.handleControl(ctx, line, actor)
		log.Debug("control request", "actor", actor, "ok", resp.OK, "err", resp.Error)
		c.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
		if enc.Encode(resp) != nil {
			return
		}
	}
}

// parseControl decodes and checks one request line with the strict decoder
// (firmware.DecodeJSON: exact-case names, no member twice in any case, no
// unknown member): a line two readers could read differently is refused.
func parseControl(line []byte) (ControlRequest, error) {
	var req ControlRequest
	if err := firmware.DecodeJSON(line, &req); err != nil {
		return req, fmt.Errorf("bad request: %w", err)
	}
	switch req.Op {
	case "status":
		if req.Privacy != "" || req.Check != "" {
			return req, errors.New(`bad request: "privacy" is only for op "privacy", "check" only for op "audit_check"`)
		}
	case "privacy":
		if req.Privacy != "on" && req.Privacy != "off" {
			return req, fmt.Errorf("bad request: privacy %q must be \"on\" or \"off\"", req.Privacy)
		}
		if req.Check != "" {
			return req, errors.New(`bad request: "check" is only for op "audit_check"`)
		}
	case "audit_check":
		if err := checkCheckDetail(req.Check); err != nil || req.Privacy != "" {
			return req, fmt.Errorf("bad request: audit_check: %v (and no \"privacy\")", err)
		}
	default:
		return req, fmt.Errorf("bad request: unknown op %q", req.Op)
	}
	return req, nil
}

// handleControl parses and executes one request line. Bad input gets an
// error response and changes nothing: it never reaches the agent.
func (a *Agent) handleControl(ctx context.Context, line []byte, actor string) ControlResponse {
	req, err := parseControl(line)
	if err != nil {
		return ControlResponse{Error: err.Error()}
	}
	if req.Op == "status" {
		st := a.Status()
		return ControlResponse{OK: true, Status: &st}
	}
	if req.Op == "audit_check" {
		if err := a.Record(CheckAudit(SourceLocal, actor, req.Check)); err != nil {
			return ControlResponse{Error: "not recorded: " + err.Error()}
		}
		return ControlResponse{OK: true}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := a.SetPrivacy(ctx, req.Privacy == "on", SourceLocal, actor)
	resp := ControlResponse{OK: err == nil, Status: &st}
	if err != nil {
		resp.Error = err.Error()
		var ref *RefusedError
		resp.Refused = errors.As(err, &ref)
	}
	return resp
}

// Control sends one request to the agent listening at path.
func Control(ctx context.Context, path string, req ControlRequest) (ControlResponse, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return ControlResponse{}, fmt.Errorf("cannot reach the agent at %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return ControlResponse{}, err
	}
	// One line, through the same strict decoder as every other JSON the
	// node reads.
	line, err := bufio.NewReader(io.LimitReader(c, firmware.MaxJSONSize)).ReadBytes('\n')
	if err != nil {
		return ControlResponse{}, fmt.Errorf("reading the agent's answer: %w", err)
	}
	var resp ControlResponse
	if err := firmware.DecodeJSON(line, &resp); err != nil {
		return ControlResponse{}, fmt.Errorf("reading the agent's answer: %w", err)
	}
	return resp, nil
}
