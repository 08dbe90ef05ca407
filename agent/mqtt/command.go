// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

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
	// ResultBusy: the command was not executed because the node could
	// not take it now (its queue was full, or it has remembered as many
	// command ids as it can); send it again, with a new issued_at, later.
	ResultBusy = "busy"
)

// Result answers a Command on Topics.Result.
type Result struct {
	ID     string        `json:"id"`
	Result string        `json:"result"` // accepted, refused, error, busy
	Reason string        `json:"reason,omitempty"`
	Status *agent.Status `json:"status,omitempty"`
}

var cmdIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ParseCommand decodes and checks a command payload received at now. Any
// problem is an error; the command is then not executed. The payload is
// decoded by firmware.DecodeJSON, the one strict decoder: exact-case
// names, no member twice under any case folding (so the hub and the node
// never read different commands from the same bytes), no unknown member,
// every field present.
func ParseCommand(payload []byte, now time.Time) (Command, error) {
	if len(payload) > MaxCommandSize {
		return Command{}, fmt.Errorf("command is %d bytes; at most %d", len(payload), MaxCommandSize)
	}
	if !utf8.Valid(payload) {
		return Command{}, errors.New("command is not valid UTF-8")
	}
	var c Command
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
		return Command{}, err
	}
	return c, nil
}

// CommandID reads, leniently, the id to answer a payload with, for the
// result and the log only: it is never used to execute anything. It is the
// string value of the top-level member "id" when it is a valid id, found
// by a tolerant scan of at most the first MaxCommandSize bytes (the rest of
// the payload may be anything: an unknown field, a bad value, trailing
// bytes, invalid UTF-8 elsewhere). It is "" when there is no such member,
// or when a member named "id" under any case folding appears twice (the
// id is then ambiguous).
func CommandID(payload []byte) string {
	if len(payload) > MaxCommandSize {
		payload = payload[:MaxCommandSize]
	}
	dec := jsontext.NewDecoder(bytes.NewReader(payload),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return ""
	}
	id, seen := "", false
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			break
		}
		// A Token is void after the next read; fold as DecodeJSON does.
		name := tok.String()
		if strings.ToLower(strings.ToUpper(name)) != "id" {
			if dec.SkipValue() != nil {
				break
			}
			continue
		}
		if seen {
			return "" // "id" twice, or "id" and "ID": ambiguous
		}
		seen = true
		v, err := dec.ReadValue()
		if err != nil {
			break
		}
		if name == "id" && v.Kind() == '"' {
			if s, err := jsontext.AppendUnquote(nil, v); err == nil && cmdIDRe.Match(s) {
				id = string(s)
			}
		}
	}
	return id
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
