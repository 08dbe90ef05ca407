// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestDiscoveryMessages: every config names its entity with
// default_entity_id ("<component>.<slug>"), not the object_id Home
// Assistant stops honouring in 2026.4; carries an origin block; and the
// command entity asks for QoS 1.
func TestDiscoveryMessages(t *testing.T) {
	topics := NodeTopics("camnode", "node-1")
	msgs := DiscoveryMessages(topics, "node-1", "Lobby", "1.2.3")
	if len(msgs) != 5 {
		t.Fatalf("%d configs", len(msgs))
	}
	slug := regexp.MustCompile(`^[a-z_]+\.[a-z0-9_]+$`)
	commands := 0
	for _, d := range msgs {
		var m map[string]any
		if err := json.Unmarshal(d.Payload, &m); err != nil {
			t.Fatalf("%s: %v", d.Topic, err)
		}
		component := strings.Split(d.Topic, "/")[1]
		if _, ok := m["object_id"]; ok {
			t.Errorf("%s: deprecated object_id", d.Topic)
		}
		id, _ := m["default_entity_id"].(string)
		if !slug.MatchString(id) || !strings.HasPrefix(id, component+".camnode_node_1_") {
			t.Errorf("%s: default_entity_id %q", d.Topic, id)
		}
		o, _ := m["origin"].(map[string]any)
		if o["name"] != "camnode" || o["sw_version"] != "1.2.3" || o["support_url"] != SupportURL {
			t.Errorf("%s: origin %v", d.Topic, m["origin"])
		}
		if _, ok := m["command_topic"]; ok {
			commands++
			if q, _ := m["qos"].(float64); q != 1 {
				t.Errorf("%s: qos %v, want 1", d.Topic, m["qos"])
			}
		}
	}
	if commands != 1 {
		t.Fatalf("%d command entities", commands)
	}
	// The mask count (issue 13) reads the status, 0 when the field is absent.
	var masks map[string]any
	for _, d := range msgs {
		if d.Topic == "homeassistant/sensor/node-1/masks/config" {
			_ = json.Unmarshal(d.Payload, &masks)
		}
	}
	if masks["state_topic"] != topics.Status || masks["value_template"] != "{{ value_json.masks | default(0) }}" {
		t.Fatalf("masks sensor %v", masks)
	}
}
