// SPDX-License-Identifier: Apache-2.0

package config

import (
	"strings"
	"testing"
)

func TestMQTTSection(t *testing.T) {
	for _, tc := range []struct {
		name, mqtt, wantErr string
	}{
		{"absent", ``, ""},
		{"tls", "[mqtt]\nbrokers = [\"ssl://hub:8883\"]\nca_file = \"/c\"\ncert_file = \"/n.crt\"\nkey_file = \"/n.key\"\nkeepalive = \"5s\"\n", ""},
		{"insecure tcp", "[mqtt]\nbrokers = [\"tcp://127.0.0.1:1883\"]\ninsecure = true\n", ""},
		{"tcp without insecure", "[mqtt]\nbrokers = [\"tcp://hub:1883\"]\n", "mqtt.brokers[0]"},
		{"tls without files", "[mqtt]\nbrokers = [\"ssl://hub:8883\"]\n", "mqtt.ca_file"},
		{"relative key", "[mqtt]\nbrokers = [\"ssl://hub:8883\"]\nca_file = \"/c\"\ncert_file = \"/n\"\nkey_file = \"n.key\"\n", "mqtt.key_file"},
		{"no port", "[mqtt]\nbrokers = [\"ssl://hub\"]\nca_file = \"/c\"\ncert_file = \"/n\"\nkey_file = \"/k\"\n", "mqtt.brokers[0]"},
		{"bad scheme", "[mqtt]\nbrokers = [\"http://hub:80\"]\ninsecure = true\n", "mqtt.brokers[0]"},
		{"keepalive too long", "[mqtt]\nbrokers = [\"tcp://h:1\"]\ninsecure = true\nkeepalive = \"30s\"\n", "mqtt.keepalive"},
		{"keepalive fraction", "[mqtt]\nbrokers = [\"tcp://h:1\"]\ninsecure = true\nkeepalive = \"1500ms\"\n", "mqtt.keepalive"},
		{"bad client id", "[mqtt]\nbrokers = [\"tcp://h:1\"]\ninsecure = true\nclient_id = \"a/#\"\n", "mqtt.client_id"},
		{"bad prefix", "[mqtt]\nbrokers = [\"tcp://h:1\"]\ninsecure = true\ntopic_prefix = \"a/b\"\n", "mqtt.topic_prefix"},
		{"unknown key", "[mqtt]\nbroker = \"tcp://h:1\"\n", "mqtt.broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(syntheticNode + tc.mqtt))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.mqtt == "" && (c.MQTT.Enabled() || c.MQTT.TopicPrefix != "camnode") {
					t.Fatalf("defaults: %+v", c.MQTT)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
