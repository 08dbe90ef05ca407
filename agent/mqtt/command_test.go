// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var cmdNow = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// commandCases feed TestParseCommand, FuzzParseCommand's seeds and the
// link tests that check an error result leaves the node unchanged.
var commandCases = []struct {
	name    string
	payload string
	wantErr string // "" = valid
}{
	{"on", `{"id":"c1","privacy":"on","actor":"hub:alice","issued_at":"2026-11-03T10:00:00Z"}`, ""},
	{"off", `{"id":"c-2.x:y_z","privacy":"off","actor":"hub","issued_at":"2026-11-03T09:59:30Z"}`, ""},
	{"offset time", `{"id":"c3","privacy":"on","actor":"ha","issued_at":"2026-11-03T11:00:10.123456+01:00"}`, ""},
	{"59s in future", `{"id":"c4","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:59Z"}`, ""},
	{"empty", ``, "not valid JSON"},
	{"not json", `privacy on`, "not valid JSON"},
	{"array", `[1,2]`, "not valid JSON"},
	{"null", `null`, "id"},
	{"trailing", `{"id":"c1","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"} {}`, "trailing"},
	{"unknown field", `{"id":"c1","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z","force":true}`, "unknown field"},
	{"missing id", `{"privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "id"},
	{"bad id", `{"id":"a/b#","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "id"},
	{"long id", `{"id":"` + strings.Repeat("x", 65) + `","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "id"},
	{"bad privacy", `{"id":"c1","privacy":"ON","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "privacy"},
	{"privacy bool", `{"id":"c1","privacy":true,"actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "not valid JSON"},
	{"no actor", `{"id":"c1","privacy":"on","issued_at":"2026-11-03T10:00:00Z"}`, "actor"},
	{"control char actor", `{"id":"c1","privacy":"on","actor":"a\nb","issued_at":"2026-11-03T10:00:00Z"}`, "actor"},
	{"no time", `{"id":"c1","privacy":"on","actor":"a"}`, "issued_at is required"},
	{"bad time", `{"id":"c1","privacy":"on","actor":"a","issued_at":"yesterday"}`, "not valid JSON"},
	{"stale", `{"id":"c1","privacy":"off","actor":"a","issued_at":"2026-11-03T09:58:59Z"}`, "stale"},
	{"future", `{"id":"c1","privacy":"off","actor":"a","issued_at":"2026-11-03T10:01:01Z"}`, "future"},
	{"oversized", `{"id":"c1","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z","pad":"` + strings.Repeat("x", MaxCommandSize) + `"}`, "at most 4096"},
	{"invalid utf8", "{\"id\":\"c1\",\"privacy\":\"on\",\"actor\":\"\xff\",\"issued_at\":\"2026-11-03T10:00:00Z\"}", "UTF-8"},
	{"duplicate key", `{"id":"c1","privacy":"on","privacy":"off","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "repeats the key"},
}

func TestParseCommand(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCommand([]byte(tc.payload), cmdNow)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCommand: %v", err)
				}
				if c.ID == "" || (c.Privacy != "on" && c.Privacy != "off") {
					t.Fatalf("accepted an incomplete command %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, tc := range commandCases {
		f.Add([]byte(tc.payload))
	}
	seeds, _ := filepath.Glob("../../testdata/mqtt/commands/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := ParseCommand(payload, cmdNow)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(payload) > MaxCommandSize || !cmdIDRe.MatchString(c.ID) || (c.Privacy != "on" && c.Privacy != "off") ||
			c.Actor == "" || c.IssuedAt.Sub(cmdNow).Abs() > MaxCommandAge {
			t.Fatalf("accepted a bad command %q -> %+v", payload, c)
		}
	})
}

// TestCommandSeedFiles keeps the seed corpus in testdata in step with the
// table: every file's name says whether it is valid (ok-*) or not (bad-*).
func TestCommandSeedFiles(t *testing.T) {
	files, err := filepath.Glob("../../testdata/mqtt/commands/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed files: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// The seeds carry fixed times: check everything but staleness.
		c, err := ParseCommand(b, cmdNow)
		ok := strings.HasPrefix(filepath.Base(p), "ok-")
		if ok && err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if !ok && err == nil {
			t.Errorf("%s: accepted %+v", p, c)
		}
	}
}
