// SPDX-License-Identifier: Apache-2.0

// Package mqtt links a node to the hub's MQTT broker: it publishes the
// node's availability, status, privacy mode and audit trail, and takes
// privacy commands. docs/mqtt.md describes the topics and payloads; the JSON
// Schemas are in testdata/mqtt.
//
// Nothing here can open the camera in a forbidden zone: commands go through
// agent.SetPrivacy like every other request, and the agent's rules refuse.
//
// Concurrency: paho calls the handlers on its own goroutines; every handler
// here only hands the message to a buffered queue (never blocks), and the
// link's goroutines do the work, so a slow agent never stalls keepalives and
// a slow broker never stalls the agent.
package mqtt
