// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os/user"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/firmware"
)

// cmdPrivacy publishes a privacy command with a fresh id and waits for the
// node's result. Exit codes: 0 accepted, 3 refused, 1 error or timeout.
func cmdPrivacy(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("privacy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf brokerFlags
	bf.register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the node's result")
	actor := fs.String("actor", "", "who asks, for the node's audit trail (default: camctl:<user>)")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 2 || (fs.Arg(1) != "on" && fs.Arg(1) != "off") || !validNode(fs.Arg(0)) {
		return exitError{code: 2, msg: "usage: camctl privacy -broker URL [flags] NODE on|off"}
	}
	node, mode := fs.Arg(0), fs.Arg(1)
	if *actor == "" {
		*actor = "camctl"
		if u, err := user.Current(); err == nil {
			*actor = "camctl:" + u.Username
		}
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	id := "camctl-" + hex.EncodeToString(r[:])
	cmd, _ := json.Marshal(mqtt.Command{ID: id, Privacy: mode, Actor: *actor, IssuedAt: time.Now().UTC()})

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	results := make(chan mqtt.Result, 1)
	c, err := bf.connect(*timeout, nil)
	if err != nil {
		return err
	}
	defer c.Disconnect(100)
	topics := mqtt.NodeTopics(bf.prefix, node)
	// Subscribe before publishing so the result cannot be missed.
	err = subscribe(c, topics.Result, func(_ paho.Client, m paho.Message) {
		var res mqtt.Result
		// The node's answer: strict like every node document camctl
		// reads, members a newer node added ignored.
		if firmware.DecodeJSONCompat(m.Payload(), &res) == nil && res.ID == id {
			select {
			case results <- res:
			default:
			}
		}
	}, *timeout)
	if err != nil {
		return err
	}
	// The node's retained availability, to tell "offline" from "not
	// allowed" if no result comes.
	var seen nodeSeen
	if err := subscribe(c, topics.Availability, seen.handle, *timeout); err != nil {
		return err
	}
	if t := c.Publish(topics.Command, 1, false, cmd); !t.WaitTimeout(*timeout) || t.Error() != nil {
		return fmt.Errorf("publishing the command: %v", t.Error())
	}
	select {
	case res := <-results:
		fmt.Fprintf(stdout, "%s: %s", node, res.Result)
		if res.Reason != "" {
			fmt.Fprintf(stdout, " (%s)", res.Reason)
		}
		fmt.Fprintln(stdout)
		if res.Status != nil {
			fmt.Fprintf(stdout, "privacy %v, shutter %s, camera %s, recording %v\n", onOff(res.Status.Privacy), res.Status.Shutter, res.Status.Capture, res.Status.Recording)
		}
		switch res.Result {
		case mqtt.ResultAccepted:
			return nil
		case mqtt.ResultRefused:
			return exitError{code: 3, msg: "refused: " + res.Reason}
		default:
			return exitError{code: 1, msg: "error: " + res.Reason}
		}
	case <-ctx.Done():
		return exitError{code: 1, msg: fmt.Sprintf("no result from %s within %v: %s", node, *timeout, seen.why())}
	}
}

// nodeSeen is what camctl could read of a node's retained availability.
type nodeSeen struct {
	mu    sync.Mutex
	avail string // "" when nothing could be read
}

func (n *nodeSeen) handle(_ paho.Client, m paho.Message) {
	n.mu.Lock()
	n.avail = string(m.Payload())
	n.mu.Unlock()
}

// why explains a missing result. A broker's ACL drops a publish it does
// not allow and still acknowledges it (MQTT 3.1.1 cannot say no), so the
// only hint is a node known to be online that does not answer.
func (n *nodeSeen) why() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.avail {
	case "online":
		return "the node is online, so your certificate may not be allowed to command this node (ACL: only the hub identity may publish commands)"
	case "offline":
		return "the node is offline (its availability says so)"
	case "":
		return "the node's availability is not readable: the node never connected, or your certificate may not read or command this node (ACL); check `camctl watch` with the hub's certificate"
	}
	return fmt.Sprintf("the node's availability is %.40q", n.avail)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
