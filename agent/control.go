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
	Op string `json:"op"` // "privacy" or "status"
	// Privacy is "on" or "off" for Op "privacy".
	Privacy string `json:"privacy,omitempty"`
}

// ControlResponse answers a ControlRequest.
type ControlResponse struct {
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Refused bool    `json:"refused,omitempty"` // the rules refused; nothing changed
	Status  *Status `json:"status,omitempty"`
}

// maxControlLine bounds one request line.
const maxControlLine = 4096

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

// ServeControl answers control requests on ln until ctx is done.
func (a *Agent) ServeControl(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control: %w", err)
		}
		wg.Go(func() {
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
		c.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			enc.Encode(ControlResponse{Error: fmt.Sprintf("request longer than %d bytes", maxControlLine)})
			return
		}
		if err != nil {
			return
		}
		resp := a.handleControl(ctx, line, actor)
		log.Debug("control request", "actor", actor, "ok", resp.OK, "err", resp.Error)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if enc.Encode(resp) != nil {
			return
		}
	}
}

// handleControl parses and executes one request line. Bad input gets an
// error response and changes nothing.
func (a *Agent) handleControl(ctx context.Context, line []byte, actor string) ControlResponse {
	var req ControlRequest
	if err := firmware.DecodeJSON(line, &req); err != nil {
		return ControlResponse{Error: "bad request: " + err.Error()}
	}
	switch req.Op {
	case "status":
		st := a.Status()
		return ControlResponse{OK: true, Status: &st}
	case "privacy":
		var on bool
		switch req.Privacy {
		case "on":
			on = true
		case "off":
		default:
			return ControlResponse{Error: fmt.Sprintf("bad request: privacy %q must be \"on\" or \"off\"", req.Privacy)}
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := a.SetPrivacy(ctx, on, SourceLocal, actor)
		resp := ControlResponse{OK: err == nil, Status: &st}
		if err != nil {
			resp.Error = err.Error()
			var ref *RefusedError
			resp.Refused = errors.As(err, &ref)
		}
		return resp
	}
	return ControlResponse{Error: fmt.Sprintf("bad request: unknown op %q", req.Op)}
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
	var resp ControlResponse
	dec := json.NewDecoder(io.LimitReader(c, 1<<20))
	if err := dec.Decode(&resp); err != nil {
		return ControlResponse{}, fmt.Errorf("reading the agent's answer: %w", err)
	}
	return resp, nil
}
