// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// Audit acknowledgement limits.
const (
	// MaxAckIDs bounds the ids of one acknowledgement.
	MaxAckIDs = 1000
	// MaxAckSize bounds an acknowledgement payload.
	MaxAckSize = 128 << 10
)

// AuditAck is the hub's acknowledgement on Topics.AuditAck: the ids of the
// audit records it has stored. The node keeps every record in its outbox
// until an AuditAck names it (docs/mqtt.md, "Audit delivery").
type AuditAck struct {
	IDs []string `json:"ids"`
	// Head is the chain head the hub has verified its copy up to
	// (docs/audit.md, "Hub witness"): the node keeps the highest one
	// (Outbox.Witness) and publishes it in its status.
	Head *agent.ChainHead `json:"head,omitempty"`
}

// ParseAuditAck decodes and checks an acknowledgement: one JSON object, 1
// to MaxAckIDs ids of 1-64 [A-Za-z0-9._:-]. Anything else is an error and
// acknowledges nothing.
func ParseAuditAck(payload []byte) (AuditAck, error) {
	if len(payload) > MaxAckSize {
		return AuditAck{}, fmt.Errorf("audit ack is %d bytes; at most %d", len(payload), MaxAckSize)
	}
	var a AuditAck
	if err := firmware.DecodeJSON(payload, &a); err != nil {
		return AuditAck{}, fmt.Errorf("audit ack: %w", err)
	}
	if len(a.IDs) == 0 || len(a.IDs) > MaxAckIDs {
		return AuditAck{}, fmt.Errorf("audit ack: %d ids; want 1 to %d", len(a.IDs), MaxAckIDs)
	}
	for _, id := range a.IDs {
		if !cmdIDRe.MatchString(id) {
			return AuditAck{}, fmt.Errorf("audit ack: bad id %q", trunc(id))
		}
	}
	if a.Head != nil {
		if err := checkHead(*a.Head); err != nil {
			return AuditAck{}, fmt.Errorf("audit ack: head: %w", err)
		}
	}
	return a, nil
}

// ParseAuditRecord decodes an audit record as published on Topics.Audit,
// strictly (the hub's side: camctl audit and the fuzzers).
func ParseAuditRecord(payload []byte) (agent.AuditRecord, error) {
	var r agent.AuditRecord
	if err := firmware.DecodeJSON(payload, &r); err != nil {
		return agent.AuditRecord{}, fmt.Errorf("audit record: %w", err)
	}
	if !cmdIDRe.MatchString(r.ID) {
		return agent.AuditRecord{}, fmt.Errorf("audit record: bad id %q", trunc(r.ID))
	}
	if err := r.CheckSession(); err != nil {
		return agent.AuditRecord{}, fmt.Errorf("audit record: %w", err)
	}
	return r, nil
}

// checkHead checks a chain head: seq >= 1, hash 64 lower-case hex digits.
func checkHead(h agent.ChainHead) error {
	if h.Seq == 0 {
		return errors.New("seq must be at least 1")
	}
	if len(h.Hash) != 64 || strings.Trim(h.Hash, "0123456789abcdef") != "" {
		return fmt.Errorf("hash %q is not 64 lower-case hex digits", trunc(h.Hash))
	}
	return nil
}

// AckPayload builds the acknowledgement of ids.
func AckPayload(ids ...string) []byte { return AckPayloadHead(nil, ids...) }

// AckPayloadHead builds the acknowledgement of ids with the chain head the
// hub has verified (nil: none).
func AckPayloadHead(head *agent.ChainHead, ids ...string) []byte {
	b, _ := json.Marshal(AuditAck{IDs: ids, Head: head})
	return b
}
