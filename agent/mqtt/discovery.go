// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"strings"
)

// Home Assistant MQTT discovery: one device per node with a privacy switch,
// recording and fault binary sensors, a privacy-mask count and a status
// sensor. The topics are
// homeassistant/<component>/<node>/<object>/config, retained, so the ACL
// can confine a node to its own id (firmware/mosquitto/acl.template).
//
// The switch sends a full Command through command_template, so Home
// Assistant must connect with the hub's identity (only it may publish
// commands) and its clock must be within MaxCommandAge of the node's. It
// sends at QoS 1 (qos on the switch), so a command is not lost on the way.
//
// Entity ids: default_entity_id ("<component>.camnode_<node>_<object>",
// '-' written '_'), not the object_id Home Assistant deprecated in 2025.10
// and stops honouring in 2026.4. Every config carries an origin block
// naming camnode, its version and SupportURL.
//
// The node does not read homeassistant/status (Home Assistant's birth
// message): the configs are retained, so a restarted Home Assistant gets
// them from the broker, and the node announces them again on every
// connect. The ACL therefore gives nodes no read access outside their own
// command topic.

// SupportURL is the origin's support_url in discovery configs.
const SupportURL = "https://github.com/camnode/camnode"

// Discovery is one retained discovery message.
type Discovery struct {
	Topic   string
	Payload []byte
}

type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
	SuggestedA   string   `json:"suggested_area,omitempty"`
}

type haOrigin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url"`
}

type haEntity struct {
	Name              string   `json:"name"`
	UniqueID          string   `json:"unique_id"`
	DefaultEntityID   string   `json:"default_entity_id"`
	StateTopic        string   `json:"state_topic"`
	ValueTemplate     string   `json:"value_template,omitempty"`
	CommandTopic      string   `json:"command_topic,omitempty"`
	CommandTemplate   string   `json:"command_template,omitempty"`
	QoS               *int     `json:"qos,omitempty"` // set on command entities
	PayloadOn         string   `json:"payload_on,omitempty"`
	PayloadOff        string   `json:"payload_off,omitempty"`
	StateOn           string   `json:"state_on,omitempty"`
	StateOff          string   `json:"state_off,omitempty"`
	DeviceClass       string   `json:"device_class,omitempty"`
	EntityCategory    string   `json:"entity_category,omitempty"`
	Icon              string   `json:"icon,omitempty"`
	AvailabilityTopic string   `json:"availability_topic"`
	PayloadAvailable  string   `json:"payload_available"`
	PayloadNotAvail   string   `json:"payload_not_available"`
	JSONAttrTopic     string   `json:"json_attributes_topic,omitempty"`
	Device            haDevice `json:"device"`
	Origin            haOrigin `json:"origin"`
	Optimistic        *bool    `json:"optimistic,omitempty"`
}

// DiscoveryMessages returns the discovery configs for node.
func DiscoveryMessages(t Topics, node, room, version string) []Discovery {
	dev := haDevice{Identifiers: []string{"camnode_" + node}, Name: "camnode " + node,
		Manufacturer: "camnode", Model: "camera node", SWVersion: version, SuggestedA: room}
	origin := haOrigin{Name: "camnode", SWVersion: version, SupportURL: SupportURL}
	base := func(component, object, name string) (string, haEntity) {
		return "homeassistant/" + component + "/" + node + "/" + object + "/config", haEntity{
			Name: name, UniqueID: "camnode_" + node + "_" + object,
			DefaultEntityID:   component + "." + strings.ReplaceAll("camnode_"+node+"_"+object, "-", "_"),
			AvailabilityTopic: t.Availability, PayloadAvailable: "online", PayloadNotAvail: "offline",
			Device: dev, Origin: origin,
		}
	}
	qos1 := 1
	no := false
	var out []Discovery
	add := func(topic string, e haEntity) {
		b, _ := json.Marshal(e)
		out = append(out, Discovery{Topic: topic, Payload: b})
	}

	topic, sw := base("switch", "privacy", "Privacy")
	sw.StateTopic, sw.StateOn, sw.StateOff = t.Privacy, "on", "off"
	sw.CommandTopic, sw.PayloadOn, sw.PayloadOff = t.Command, "on", "off"
	sw.CommandTemplate = `{"id":"ha-{{ (now().timestamp() * 1000000) | int }}","privacy":"{{ value }}","actor":"home-assistant","issued_at":"{{ now().isoformat() }}"}`
	sw.Icon, sw.Optimistic, sw.QoS = "mdi:eye-off", &no, &qos1
	add(topic, sw)

	topic, rec := base("binary_sensor", "recording", "Recording")
	rec.StateTopic, rec.ValueTemplate = t.Status, "{{ 'ON' if value_json.recording else 'OFF' }}"
	rec.Icon = "mdi:record-rec"
	add(topic, rec)

	topic, f := base("binary_sensor", "fault", "Fault")
	f.StateTopic, f.ValueTemplate = t.Status, "{{ 'ON' if value_json.faults | length > 0 else 'OFF' }}"
	f.DeviceClass, f.EntityCategory, f.JSONAttrTopic = "problem", "diagnostic", ""
	add(topic, f)

	// Masks come from the signed identity; the status omits the field
	// when there are none.
	topic, mk := base("sensor", "masks", "Privacy masks")
	mk.StateTopic, mk.ValueTemplate = t.Status, "{{ value_json.masks | default(0) }}"
	mk.EntityCategory, mk.Icon = "diagnostic", "mdi:select-off"
	add(topic, mk)

	topic, s := base("sensor", "status", "Status")
	s.StateTopic, s.ValueTemplate = t.Status, "{{ 'privacy' if value_json.privacy else value_json.capture }}"
	s.JSONAttrTopic = t.Status
	add(topic, s)
	return out
}
