// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/firmware"
)

// Command limits.
const (
	// MaxCommandSize bounds a command payload.
	MaxCommandSize = 4096
	// MaxCommandAge is how old (or how far in the future) issued_at may be.
	MaxCommandAge = 60 * time.Second
	maxActorLen   = 128
)

// Command is a privacy command from the hub on Topics.Command.
type Command struct {
	ID       string    `json:"id"`      // correlation id, echoed in the Result
	Privacy  string    `json:"privacy"` // "on" or "off"
	Actor    string    `json:"actor"`   // who asked, for the audit trail
	IssuedAt time.Time `json:"issued_at"`
}

// Results.
const (
	ResultAccepted = "accepted"
	ResultRefused  = "refused"
	ResultError    = "error"
)

// Result answers a Command on Topics.Result.
type Result struct {
	ID     string        `json:"id"`
	Result string        `json:"result"` // accepted, refused, error
	Reason string        `json:"reason,omitempty"`
	Status *agent.Status `json:"status,omitempty"`
}

var cmdIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ParseCommand decodes and checks a command payload received at now. Any
// problem is an error; the command is then not executed.
func ParseCommand(payload []byte, now time.Time) (Command, error) {
	if len(payload) > MaxCommandSize {
		return Command{}, fmt.Errorf("command is %d bytes; at most %d", len(payload), MaxCommandSize)
	}
	if !utf8.Valid(payload) {
		return Command{}, errors.New("command is not valid UTF-8")
	}
	var c Command
	if err := noDuplicateKeys(payload); err != nil {
		return Command{}, err
	}
	if err := firmware.DecodeJSON(payload, &c); err != nil {
		return Command{}, fmt.Errorf("command is not valid JSON: %w", err)
	}
	var errs []error
	if !cmdIDRe.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("id %q must be 1-64 characters of [A-Za-z0-9._:-]", trunc(c.ID)))
	}
	if c.Privacy != "on" && c.Privacy != "off" {
		errs = append(errs, fmt.Errorf("privacy %q must be \"on\" or \"off\"", trunc(c.Privacy)))
	}
	if c.Actor == "" || len(c.Actor) > maxActorLen || !printable(c.Actor) {
		errs = append(errs, fmt.Errorf("actor must be 1-%d printable characters", maxActorLen))
	}
	switch {
	case c.IssuedAt.IsZero():
		errs = append(errs, errors.New("issued_at is required (RFC 3339)"))
	case now.Sub(c.IssuedAt) > MaxCommandAge:
		errs = append(errs, fmt.Errorf("stale: issued_at %s is more than %v old", c.IssuedAt.Format(time.RFC3339), MaxCommandAge))
	case c.IssuedAt.Sub(now) > MaxCommandAge:
		errs = append(errs, fmt.Errorf("issued_at %s is more than %v in the future (clock skew?)", c.IssuedAt.Format(time.RFC3339), MaxCommandAge))
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, nil
}

// ResultID is the id to answer a payload with: the command's id when it
// could be read, else "".
func ResultID(c Command) string {
	if cmdIDRe.MatchString(c.ID) {
		return c.ID
	}
	return ""
}

// noDuplicateKeys refuses an object that repeats a top-level key: the hub
// and the node must never read different commands from the same bytes.
func noDuplicateKeys(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: DecodeJSON says what is wrong
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		if seen[k] {
			return fmt.Errorf("command repeats the key %q", trunc(k))
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
