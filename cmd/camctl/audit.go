// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/mqtt"
	"github.com/camnode/camnode/firmware"
)

// cmdAudit prints a node's audit records as they arrive on its audit topic.
// With -session NAME the broker keeps (QoS 1) the records published while
// camctl is away and delivers them on the next run with the same name.
//
// camctl audit verify and camctl audit export work offline on files
// (auditverify.go, auditexport.go).
func cmdAudit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "verify":
			return cmdAuditVerify(args[1:], stdout, stderr)
		case "export":
			return cmdAuditExport(args[1:], stdout, stderr, time.Now)
		}
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf brokerFlags
	bf.register(fs)
	count := fs.Int("n", 0, "exit after this many records (0: run until -timeout or Ctrl-C)")
	timeout := fs.Duration("timeout", 0, "exit after this long (0: no limit)")
	session := fs.String("session", "", "persistent session name: records published while away are delivered next time")
	asJSON := fs.Bool("json", false, "print each record as a JSON line")
	noAck := fs.Bool("no-ack", false, "do not acknowledge the records (a read-only observer: the node keeps them for the hub)")
	witnessFile := fs.String("witness-file", "", "keep the verified chain head here across runs (JSON {\"seq\",\"hash\"}); acks carry it")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() != 1 || !validNode(fs.Arg(0)) || *count < 0 {
		return exitError{code: 2, msg: "usage: camctl audit -broker URL [flags] NODE"}
	}
	node := fs.Arg(0)
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	// Each record is checked against the chain as it arrives; the ack
	// carries the head verified so far (docs/audit.md, "Hub witness").
	var witness agent.ChainWitness
	if *witnessFile != "" {
		h, err := loadWitness(*witnessFile)
		if err != nil {
			return exitError{code: 2, msg: "camctl audit: -witness-file: " + err.Error()}
		}
		witness.Head = h
	}
	type received struct {
		rec agent.AuditRecord
		raw []byte
	}
	recs := make(chan received, 256)
	topics := mqtt.NodeTopics(bf.prefix, node)
	handler := func(_ paho.Client, m paho.Message) {
		r, err := mqtt.ParseAuditRecord(m.Payload())
		if err != nil {
			// Not acknowledged: the node keeps it.
			fmt.Fprintf(stderr, "camctl audit: unreadable record on %s (%v): %.80q\n", m.Topic(), err, m.Payload())
			return
		}
		select { // a full buffer only delays paho; never past the end
		case recs <- received{r, bytes.Clone(m.Payload())}:
		case <-ctx.Done():
		}
	}
	if *session != "" {
		bf.clientID = "camctl-audit-" + *session
	}
	c, err := bf.connectSession(10*time.Second, *session != "", topics.Audit, handler)
	if err != nil {
		return err
	}
	defer c.Disconnect(100)
	seen := map[string]bool{}
	for n := 0; *count == 0 || n < *count; {
		select {
		case <-ctx.Done():
			return nil
		case got := <-recs:
			r := got.rec
			before := witness.Head
			if err := witness.Observe(got.raw); err != nil {
				fmt.Fprintf(stderr, "camctl audit: CHAIN: record %s: %v\n", r.ID, err)
			} else if *witnessFile != "" && witness.Head != before {
				if err := saveWitness(*witnessFile, *witness.Head); err != nil {
					return err
				}
			}
			// A record may come twice (QoS 1, and the node publishes
			// again what the hub did not acknowledge): print it once,
			// acknowledge it every time.
			if !seen[r.ID] {
				seen[r.ID] = true
				n++
				if *asJSON {
					// The payload as published: the chain line, so that
					// the output verifies (camctl audit verify).
					fmt.Fprintf(stdout, "%s\n", got.raw)
				} else {
					why := r.Reason
					if r.View != nil { // pairs a session's start and end
						why += " (session " + r.View.Session + ")"
					}
					fmt.Fprintf(stdout, "%s  %-8s %-8s %-4s %-20s %s  [%s]\n", r.Time.Local().Format(time.DateTime), r.Kind, r.Source, r.Privacy, r.Actor, why, r.ID)
				}
			}
			if !*noAck {
				if err := ackAudit(c, topics, witness.Head, r.ID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// loadWitness reads a -witness-file; a missing file is no head yet.
func loadWitness(path string) (*agent.ChainHead, error) {
	data, err := firmware.ReadFile(path, firmware.MaxStateFileSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var h agent.ChainHead
	if err := firmware.DecodeJSON(data, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

func saveWitness(path string, h agent.ChainHead) error {
	b, _ := json.Marshal(h)
	return agent.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// ackAudit tells the node that the record id is stored (printed): it may
// drop it from its outbox; head is the chain head verified so far (nil:
// none yet).
func ackAudit(c paho.Client, topics mqtt.Topics, head *agent.ChainHead, id string) error {
	t := c.Publish(topics.AuditAck, 1, false, mqtt.AckPayloadHead(head, id))
	if !t.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("acknowledging audit record %s: the broker did not answer", id)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("acknowledging audit record %s: %w", id, err)
	}
	return nil
}

// connectSession connects and subscribes to topic; with persistent it
// uses a non-clean session so the broker queues messages while away.
func (b *brokerFlags) connectSession(timeout time.Duration, persistent bool, topic string, h paho.MessageHandler) (paho.Client, error) {
	if !persistent {
		c, err := b.connect(timeout, nil)
		if err != nil {
			return nil, err
		}
		if err := subscribe(c, topic, h, timeout); err != nil {
			c.Disconnect(0)
			return nil, err
		}
		return c, nil
	}
	// A persistent session: the handler must be registered before the
	// broker replays what it queued.
	c, err := b.connectWith(timeout, func(o *paho.ClientOptions) {
		o.SetCleanSession(false)
		o.SetDefaultPublishHandler(h)
	})
	if err != nil {
		return nil, err
	}
	if err := subscribe(c, topic, h, timeout); err != nil {
		c.Disconnect(0)
		return nil, err
	}
	return c, nil
}
