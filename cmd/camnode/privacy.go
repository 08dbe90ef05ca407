// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
)

// cmdPrivacy talks to the running agent over the control socket. Exit
// codes: 0 done, 3 refused by the rules, 1 any other failure.
func cmdPrivacy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("privacy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", config.Default().Node.ControlSocket, "control socket of the running agent")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the node to settle")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 1 {
		return exitError{code: 2, msg: "usage: camnode privacy [-socket PATH] on|off|status"}
	}
	req := agent.ControlRequest{Op: "privacy", Privacy: fs.Arg(0)}
	switch fs.Arg(0) {
	case "on", "off":
	case "status":
		req = agent.ControlRequest{Op: "status"}
	default:
		return exitError{code: 2, msg: fmt.Sprintf("camnode privacy: %q: want on, off or status", fs.Arg(0))}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := agent.Control(ctx, *socket, req)
	if err != nil {
		return err
	}
	if resp.Status != nil {
		printStatus(stdout, *resp.Status)
	}
	switch {
	case resp.OK:
		return nil
	case resp.Refused:
		return exitError{code: 3, msg: resp.Error}
	default:
		return exitError{code: 1, msg: "failed: " + resp.Error}
	}
}

// printStatus writes the status a technician needs, one fact a line.
func printStatus(w io.Writer, st agent.Status) {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	fmt.Fprintf(w, "node      %s (%s, %s, zone %s)\n", st.Node, st.Site, st.Room, st.ZoneClass)
	if st.CaptureAllowed {
		fmt.Fprintf(w, "zone      capture allowed\n")
	} else {
		fmt.Fprintf(w, "zone      capture LOCKED: %s\n", st.ZoneReason)
	}
	fmt.Fprintf(w, "privacy   %s\n", onOff(st.Privacy))
	fmt.Fprintf(w, "shutter   %s\n", st.Shutter)
	fmt.Fprintf(w, "led       %s\n", onOff(st.LED))
	rec := "no"
	if st.Recording {
		rec = "yes, " + st.Format
	}
	fmt.Fprintf(w, "camera    %s (frames out: %d, dropped by the camera: %d, skipped as corrupt: %d, recording: %s)\n",
		st.Capture, st.Frames, st.CameraDropped, st.CorruptFrames, rec)
	fmt.Fprintf(w, "audio     %s\n", st.Audio)
	fmt.Fprintf(w, "streams   %d live-view viewer(s), %d recorder session(s) (RTSP readers)\n", st.Viewers, st.RecorderSessions)
	if p := st.Push; p != nil {
		if p.Connected {
			fmt.Fprintf(w, "push      connected, recording at %s\n", p.Target)
		} else {
			fmt.Fprintf(w, "push      not connected to %s (publishes while the camera streams; retries with backoff)\n", p.Target)
		}
	}
	if st.Masks > 0 {
		fmt.Fprintf(w, "masks     %d privacy mask(s) burned into every frame (signed identity)\n", st.Masks)
	} else {
		fmt.Fprintf(w, "masks     none\n")
	}
	if l := st.Link; l != nil {
		line := l.State
		if l.Failures > 0 {
			line += fmt.Sprintf(", %d failed attempt(s)", l.Failures)
		}
		if !l.NextAttempt.IsZero() {
			line += ", next at " + l.NextAttempt.Local().Format(time.TimeOnly)
		}
		fmt.Fprintf(w, "hub link  %s\n", line)
		if l.LastError != "" {
			fmt.Fprintf(w, "          last error %s: %s\n", l.LastErrorAt.Local().Format(time.DateTime), l.LastError)
		}
		audit := fmt.Sprintf("%d record(s) not yet acknowledged by the hub", l.AuditUnacked)
		if !l.AuditOldest.IsZero() {
			audit += fmt.Sprintf(", oldest from %s (%s ago)", l.AuditOldest.Local().Format(time.DateTime),
				st.Time.Sub(l.AuditOldest).Round(time.Second))
		}
		fmt.Fprintf(w, "audit     %s\n", audit)
		if h := l.AuditWitnessed; h != nil {
			fmt.Fprintf(w, "          witnessed by the hub up to seq %d (hash %s)\n", h.Seq, h.Hash)
		} else {
			fmt.Fprintf(w, "          no chain head witnessed by the hub yet\n")
		}
	}
	if f := st.FaultList(); len(f) > 0 {
		fmt.Fprintf(w, "faults    %s\n", strings.Join(f, "\n          "))
	}
}
