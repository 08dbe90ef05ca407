// SPDX-License-Identifier: Apache-2.0

package mqtt

// Topics are a node's topics: Prefix/Node/...
type Topics struct {
	Availability string // retained "online"/"offline"; the will is "offline"
	Status       string // retained StatusPayload JSON
	Privacy      string // retained "on"/"off"
	Command      string // Command JSON, from the hub
	Result       string // Result JSON, answers a Command
	Audit        string // AuditRecord JSON, QoS 1, not retained
	AuditAck     string // AuditAck JSON from the hub: records it has stored
}

// HAStatusTopic is where Home Assistant announces that it (re)started. The
// node does not subscribe to it: its discovery configs are retained.
const HAStatusTopic = "homeassistant/status"

// NodeTopics returns the topics of node under prefix ("camnode").
func NodeTopics(prefix, node string) Topics {
	b := prefix + "/" + node + "/"
	return Topics{
		Availability: b + "availability",
		Status:       b + "status",
		Privacy:      b + "privacy",
		Command:      b + "cmd/privacy",
		Result:       b + "cmd/result",
		Audit:        b + "audit",
		AuditAck:     b + "audit/ack",
	}
}
