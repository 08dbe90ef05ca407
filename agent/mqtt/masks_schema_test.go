// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/camnode/camnode/agent"
)

// TestStatusSchemaMasks: a node with privacy masks publishes how many, and
// the status schema documents the field.
func TestStatusSchemaMasks(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	st := agent.Status{Node: "n1", Site: "s", Room: "Corridor", ZoneClass: "corridor", CaptureAllowed: true,
		Privacy: true, Shutter: "closed", Capture: "off", Audio: "absent", Faults: map[string]string{},
		Masks: 3, Version: "test", Since: now, Time: now}
	b, err := json.Marshal(MakeStatus(st, now, nil, OutboxStats{}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["masks"] != 3.0 {
		t.Fatalf("status %s has no \"masks\":3", b)
	}
	if err := loadSchema(t, "status.schema.json").validate(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
}
