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

// commandCases feed TestParseCommand, the seeds of FuzzDecodeCommand and
// FuzzDispatch, and the link tests that check an error result leaves the
// node unchanged.
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
	{"no time", `{"id":"c1","privacy":"on","actor":"a"}`, "issued_at: missing"},
	{"null time", `{"id":"c1","privacy":"on","actor":"a","issued_at":null}`, "issued_at: null"},
	{"zero time", `{"id":"c1","privacy":"on","actor":"a","issued_at":"0001-01-01T00:00:00Z"}`, "issued_at is required"},
	{"bad time", `{"id":"c1","privacy":"on","actor":"a","issued_at":"yesterday"}`, "not valid JSON"},
	{"stale", `{"id":"c1","privacy":"off","actor":"a","issued_at":"2026-11-03T09:58:59Z"}`, "stale"},
	{"future", `{"id":"c1","privacy":"off","actor":"a","issued_at":"2026-11-03T10:01:01Z"}`, "future"},
	{"oversized", `{"id":"c1","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z","pad":"` + strings.Repeat("x", MaxCommandSize) + `"}`, "at most 4096"},
	{"invalid utf8", "{\"id\":\"c1\",\"privacy\":\"on\",\"actor\":\"\xff\",\"issued_at\":\"2026-11-03T10:00:00Z\"}", "UTF-8"},
	{"duplicate key", `{"id":"c1","privacy":"on","privacy":"off","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "appears twice"},
	// encoding/json matched names case-insensitively, last one winning:
	// the node executed "off" where a case-sensitive reader saw "on".
	{"case variant key", `{"id":"c1","privacy":"on","Privacy":"off","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "differ only in case"},
	{"case variant key first", `{"id":"c1","PRIVACY":"off","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "differ only in case"},
	{"case variant only", `{"id":"c1","Privacy":"off","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "privacy: missing"},
	{"case variant id", `{"id":"c1","ID":"c2","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "differ only in case"},
	{"kelvin fold", "{\"id\":\"c1\",\"privacy\":\"on\",\"actor\":\"a\",\"issued_at\":\"2026-11-03T10:00:00Z\",\"\u212aey\":1,\"key\":2}", "differ only in case"},
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

// FuzzDecodeCommand: ParseCommand never panics and accepts only complete,
// fresh commands; CommandID (the lenient id for answers) never panics,
// returns "" or a valid id, and agrees with ParseCommand on every command
// that is executed.
func FuzzDecodeCommand(f *testing.F) {
	for _, tc := range commandCases {
		f.Add([]byte(tc.payload))
	}
	for _, tc := range commandIDCases {
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
		id := CommandID(payload)
		if id != "" && !cmdIDRe.MatchString(id) {
			t.Fatalf("CommandID(%q) = %q", payload, id)
		}
		c, err := ParseCommand(payload, cmdNow)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			if c != (Command{}) {
				t.Fatalf("a refused command came back filled in: %+v", c)
			}
			return
		}
		if id != c.ID {
			t.Fatalf("answer id %q, executed id %q: %q", id, c.ID, payload)
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

// commandIDCases: the id a result carries. It is read leniently (a bad
// command whose id is readable is answered with it) but never when it is
// ambiguous.
var commandIDCases = []struct{ payload, want string }{
	{`{"id":"c1","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"}`, "c1"},
	{`{"id":"c1","privacy":"maybe"}`, "c1"},
	{`{"privacy":"on","force":true,"id":"c1"}`, "c1"},
	{`{"nested":{"id":"x"},"id":"c1","privacy":{"id":"y"}}`, "c1"},
	{`{"id":"c1","privacy":"on","privacy":"off"}`, "c1"},
	{`{"id":"c1","privacy":"on","actor":"a","issued_at":"2026-11-03T10:00:00Z"} trailing`, "c1"},
	{"{\"id\":\"c1\",\"actor\":\"\xff\"}", "c1"},
	{`{"id":"c1","privacy":"on","pad":"` + strings.Repeat("x", 2*MaxCommandSize) + `"}`, "c1"},
	{`{"id":"c1","privacy":` /* truncated */, "c1"},
	{`{"pad":"` + strings.Repeat("x", MaxCommandSize) + `","id":"c1"}`, ""}, // beyond the bound
	{`{"id":"c1","id":"c2"}`, ""},
	{`{"id":"c1","ID":"c2"}`, ""},
	{`{"ID":"c1"}`, ""},
	{`{"Id":"c1","id":"c1"}`, ""},
	{`{"id":"a/b#"}`, ""},
	{`{"id":"` + strings.Repeat("x", 65) + `"}`, ""},
	{`{"id":7}`, ""},
	{`{"id":null}`, ""},
	{`{"id":{"id":"c1"}}`, ""},
	{`["id","c1"]`, ""},
	{`"c1"`, ""},
	{``, ""},
	{`{"id"`, ""},
	{`{"id":"c\u0031"}`, "c1"},
}

func TestCommandID(t *testing.T) {
	for _, tc := range commandIDCases {
		if got := CommandID([]byte(tc.payload)); got != tc.want {
			t.Errorf("CommandID(%.80q) = %q, want %q", tc.payload, got, tc.want)
		}
	}
	// Every bad command of the table whose id is plainly readable is
	// answered with it.
	for _, tc := range commandCases {
		if _, err := ParseCommand([]byte(tc.payload), cmdNow); err != nil && strings.HasPrefix(tc.payload, `{"id":"c1",`) &&
			!strings.Contains(tc.payload, `"ID"`) && CommandID([]byte(tc.payload)) != "c1" {
			t.Errorf("%s: answer id %q, want c1", tc.name, CommandID([]byte(tc.payload)))
		}
	}
}
