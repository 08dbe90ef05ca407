// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"fmt"
	"io/fs"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/camnode/camnode/agent"
)

// DefaultThermalPath is where the Raspberry Pi kernel reports the SoC
// temperature in millidegrees Celsius.
const DefaultThermalPath = "sys/class/thermal/thermal_zone0/temp"

// StatusPayload is the retained JSON on Topics.Status: the agent's status
// plus uptime, SoC temperature and the audit outbox.
type StatusPayload struct {
	agent.Status
	UptimeS  float64     `json:"uptime_s"`
	SoCTempC *float64    `json:"soc_temp_c,omitempty"` // absent when unreadable
	Outbox   OutboxStats `json:"audit_outbox"`
}

// FaultAuditOutbox is the fault added to the published status while audit
// records could not be queued for the hub.
const FaultAuditOutbox = "audit_outbox"

// MakeStatus builds the status payload.
func MakeStatus(st agent.Status, now time.Time, temp *float64, ob OutboxStats) StatusPayload {
	// The faults map is shared by every holder of st: copy before adding.
	st.Faults = maps.Clone(st.Faults)
	if st.Faults == nil {
		st.Faults = map[string]string{}
	}
	if ob.Overflow > 0 {
		st.Faults[FaultAuditOutbox] = fmt.Sprintf("%d audit record(s) not forwarded to the hub (outbox full); they are in the local audit log", ob.Overflow)
	}
	up := now.Sub(st.Since).Seconds()
	if st.Since.IsZero() || up < 0 {
		up = 0
	}
	return StatusPayload{Status: st, UptimeS: float64(int64(up*10)) / 10, SoCTempC: temp, Outbox: ob}
}

// ReadSoCTemp reads the temperature in degrees Celsius from a thermal zone
// file in fsys; nil when it is unreadable or implausible.
func ReadSoCTemp(fsys fs.FS, path string) *float64 {
	if fsys == nil || path == "" {
		return nil
	}
	b, err := fs.ReadFile(fsys, path)
	if err != nil || len(b) > 32 {
		return nil
	}
	milli, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || milli < -60000 || milli > 200000 {
		return nil
	}
	c := float64(milli) / 1000
	return &c
}
