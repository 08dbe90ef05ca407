// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

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
	// Head is reserved for the hub-witnessed chain head of a later
	// version: accepted and ignored today, so that a newer hub's
	// acknowledgements are not refused by this node.
	Head jsontext.Value `json:"head,omitzero"`
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
	if len(a.Head) > 0 && a.Head.Kind() != '{' {
		return AuditAck{}, errors.New("audit ack: head must be an object")
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
	return r, nil
}

// AckPayload builds the acknowledgement of ids.
func AckPayload(ids ...string) []byte {
	b, _ := json.Marshal(AuditAck{IDs: ids})
	return b
}
