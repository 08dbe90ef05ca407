// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/firmware"
)

// fleet is what watch knows about each node, from retained topics.
type fleet struct {
	mu     sync.Mutex
	nodes  map[string]*nodeView
	prefix string
	change chan struct{}
}

type nodeView struct {
	online string // availability payload
	status *mqtt.StatusPayload
	bad    string // last unreadable status
}

// handle files one message under its node. Topics are prefix/NODE/leaf.
func (f *fleet) handle(topic string, payload []byte) {
	parts := strings.Split(topic, "/")
	if len(parts) != 3 || parts[0] != f.prefix || (parts[2] != "availability" && parts[2] != "status") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[parts[1]]
	if n == nil {
		n = &nodeView{}
		f.nodes[parts[1]] = n
	}
	switch parts[2] {
	case "availability":
		n.online = string(payload)
	case "status":
		st, err := parseStatus(payload)
		if err != nil {
			n.bad = fmt.Sprintf("unreadable status (%d bytes): %v", len(payload), err)
			return
		}
		n.status, n.bad = &st, ""
	}
	select {
	case f.change <- struct{}{}:
	default:
	}
}

// maxStatusSize bounds a status payload camctl reads.
const maxStatusSize = 64 << 10

// parseStatus decodes a node's retained status: strictly (no member twice
// under any case folding, every member all versions send present), except
// that members added by a newer node are ignored (firmware.DecodeJSONCompat).
func parseStatus(payload []byte) (mqtt.StatusPayload, error) {
	var st mqtt.StatusPayload
	if len(payload) > maxStatusSize {
		return st, fmt.Errorf("more than %d bytes", maxStatusSize)
	}
	if err := firmware.DecodeJSONCompat(payload, &st); err != nil {
		return mqtt.StatusPayload{}, err
	}
	return st, nil
}

// empty reports whether nothing at all was received.
func (f *fleet) empty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.nodes) == 0
}

// errNothingReadable explains an empty fleet: the broker's ACL does not
// refuse a subscription it will not serve, it just delivers nothing.
func errNothingReadable(prefix string) error {
	return exitError{code: 1, msg: fmt.Sprintf("no node status or availability received under %s/: no node ever connected to this broker, or your certificate may not read %s/# (ACL: only the hub identity may)", prefix, prefix)}
}

// table renders the fleet, one node a line, sorted by node id.
func (f *fleet) table(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.nodes))
	for n := range f.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tLINK\tROOM\tZONE\tPRIVACY\tSHUTTER\tCAMERA\tREC\tVIEWERS\tRTSP\tPUSH\tMASKS\tTEMP\tOUTBOX\tWITNESSED\tFAULTS")
	for _, name := range names {
		n := f.nodes[name]
		link := n.online
		if link == "" {
			link = "?"
		}
		st := n.status
		if st == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", name, link, n.bad)
			continue
		}
		zone := st.ZoneClass
		if !st.CaptureAllowed {
			zone += " (locked)"
		}
		temp := "-"
		if st.SoCTempC != nil {
			temp = fmt.Sprintf("%.1fC", *st.SoCTempC)
		}
		rec := "no"
		if st.Recording {
			rec = "YES"
		}
		// The push to the hub ([recorder] push): "-" without one, "up"
		// while a session records at the hub, "down" otherwise.
		push := "-"
		if p := st.Push; p != nil {
			push = "down"
			if p.Connected {
				push = "up"
			}
		}
		faults := strings.Join(st.FaultList(), "; ")
		if faults == "" {
			faults = "-"
		}
		// The last chain head the hub witnessed (docs/audit.md).
		witnessed := "-"
		if w := st.Outbox.Witnessed; w != nil {
			witnessed = fmt.Sprintf("seq %d", w.Seq)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\n", name, link, st.Room, zone, onOff(st.Privacy),
			st.Shutter, st.Capture, rec, st.Viewers, st.RecorderSessions, push, st.Masks, temp, st.Outbox.Pending, witnessed, faults)
	}
	tw.Flush()
}

// cmdWatch shows a live table of the nodes from their retained status and
// availability topics.
func cmdWatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf brokerFlags
	bf.register(fs)
	once := fs.Bool("once", false, "print the table once after -settle and exit")
	settle := fs.Duration("settle", time.Second, "with -once: print once no message has come for this long")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 0 {
		return exitError{code: 2, msg: "usage: camctl watch -broker URL [flags]"}
	}
	f := &fleet{nodes: map[string]*nodeView{}, prefix: bf.prefix, change: make(chan struct{}, 1)}
	c, err := bf.connect(10*time.Second, nil)
	if err != nil {
		return err
	}
	defer c.Disconnect(100)
	h := func(_ paho.Client, m paho.Message) { f.handle(m.Topic(), m.Payload()) }
	// One subscription for both leaves: with two wildcard subscriptions,
	// mochi (the demo's embedded broker) delivered the retained messages
	// of the second one to nobody once two nodes were present.
	if err := subscribe(c, bf.prefix+"/+/+", h, 10*time.Second); err != nil {
		return err
	}
	if *once {
		// Retained messages arrive in a burst after the subscriptions: wait
		// until none has come for -settle (at most 10 x -settle).
		quiet := time.NewTimer(*settle)
		defer quiet.Stop()
		limit := time.After(10 * *settle)
	collect:
		for {
			select {
			case <-ctx.Done():
				break collect
			case <-limit:
				break collect
			case <-quiet.C:
				break collect
			case <-f.change:
				quiet.Reset(*settle)
			}
		}
		if f.empty() {
			return errNothingReadable(bf.prefix)
		}
		f.table(stdout)
		return nil
	}
	redraw := time.NewTicker(time.Second)
	defer redraw.Stop()
	// Retained messages come at once after the subscription: nothing at
	// all for a while means nothing is readable.
	nothing := time.NewTimer(max(10**settle, 10*time.Second))
	defer nothing.Stop()
	dirty := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-nothing.C:
			if f.empty() {
				return errNothingReadable(bf.prefix)
			}
		case <-f.change:
			dirty = true
		case <-redraw.C:
			if dirty {
				fmt.Fprint(stdout, "\033[H\033[2J")
				fmt.Fprintf(stdout, "camctl watch %s  %s\n\n", bf.broker, time.Now().Format(time.TimeOnly))
				f.table(stdout)
				dirty = false
			}
		}
	}
}
