// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A validator for the subset of JSON Schema (2020-12) that
// testdata/mqtt/*.schema.json use: type, enum, properties, required,
// additionalProperties, pattern, minLength, maxLength, minimum, maximum,
// format date-time, local $ref, allOf, if/then, and the schema false as a
// property's (the property must be absent). An unsupported keyword is an
// error, so a schema cannot silently check less than it says.

type schema struct {
	root map[string]any
}

var knownKeywords = []string{"$schema", "$id", "title", "description", "$defs", "$ref", "type", "enum",
	"properties", "required", "additionalProperties", "pattern", "minLength", "maxLength", "minimum", "maximum", "format",
	"allOf", "if", "then"}

func loadSchema(t testing.TB, name string) schema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/mqtt", name))
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return schema{root: root}
}

func (s schema) validate(payload []byte) error {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.check(s.root, v, "$")
}

func (s schema) check(sch map[string]any, v any, at string) error {
	for k := range sch {
		if !slices.Contains(knownKeywords, k) {
			return fmt.Errorf("%s: schema keyword %q not supported by this validator", at, k)
		}
	}
	if ref, ok := sch["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		defs, _ := s.root["$defs"].(map[string]any)
		sub, _ := defs[name].(map[string]any)
		if !ok || sub == nil {
			return fmt.Errorf("%s: unresolvable $ref %q", at, ref)
		}
		return s.check(sub, v, at)
	}
	if all, ok := sch["allOf"].([]any); ok {
		for _, sub := range all {
			m, ok := sub.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: allOf entry %v is not a schema object", at, sub)
			}
			if err := s.check(m, v, at); err != nil {
				return err
			}
		}
	}
	if cond, ok := sch["if"].(map[string]any); ok {
		then, ok := sch["then"].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: if without a then schema object", at)
		}
		if s.check(cond, v, at) == nil {
			if err := s.check(then, v, at); err != nil {
				return err
			}
		}
	}
	if typ, ok := sch["type"].(string); ok && !hasType(v, typ) {
		return fmt.Errorf("%s: %v is not of type %s", at, v, typ)
	}
	if enum, ok := sch["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v not in %v", at, v, enum)
	}
	switch x := v.(type) {
	case string:
		if p, ok := sch["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			return fmt.Errorf("%s: %q does not match %s", at, x, p)
		}
		n := float64(utf8.RuneCountInString(x))
		if m, ok := sch["minLength"].(float64); ok && n < m {
			return fmt.Errorf("%s: shorter than %v", at, m)
		}
		if m, ok := sch["maxLength"].(float64); ok && n > m {
			return fmt.Errorf("%s: longer than %v", at, m)
		}
		if f, ok := sch["format"].(string); ok {
			if f != "date-time" {
				return fmt.Errorf("%s: format %q not supported", at, f)
			}
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, x)
			}
		}
	case float64:
		if m, ok := sch["minimum"].(float64); ok && x < m {
			return fmt.Errorf("%s: %v below %v", at, x, m)
		}
		if m, ok := sch["maximum"].(float64); ok && x > m {
			return fmt.Errorf("%s: %v above %v", at, x, m)
		}
	case map[string]any:
		req, _ := sch["required"].([]any)
		for _, r := range req {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: missing required %q", at, r)
			}
		}
		props, _ := sch["properties"].(map[string]any)
		for k, val := range x {
			if p, ok := props[k].(bool); ok {
				if !p {
					return fmt.Errorf("%s: property %q not allowed here", at, k)
				}
				continue
			}
			if p, ok := props[k].(map[string]any); ok {
				if err := s.check(p, val, at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := sch["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: property %q not allowed", at, k)
				}
			case map[string]any:
				if err := s.check(ap, val, at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "null":
		return v == nil
	}
	return false
}

// TestCommandSchemaAgreesWithParser: the schema and ParseCommand accept the
// same table cases (except what a schema cannot say: staleness, a zero
// time, size, duplicate keys, control characters).
func TestCommandSchemaAgreesWithParser(t *testing.T) {
	s := loadSchema(t, "command.schema.json")
	for _, tc := range commandCases {
		if strings.Contains(tc.wantErr, "stale") || strings.Contains(tc.wantErr, "future") ||
			strings.Contains(tc.wantErr, "4096") || strings.Contains(tc.wantErr, "appears twice") || strings.Contains(tc.wantErr, "issued_at is required") || strings.Contains(tc.name, "control") ||
			strings.Contains(tc.name, "trailing") || strings.Contains(tc.name, "utf8") {
			continue
		}
		err := s.validate([]byte(tc.payload))
		if (err == nil) != (tc.wantErr == "") {
			t.Errorf("%s: schema says %v, parser wants error %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestValidatorRejects(t *testing.T) {
	s := loadSchema(t, "status.schema.json")
	st := MakeStatus(testStatus(), time.Now(), nil, OutboxStats{})
	good, _ := json.Marshal(st)
	if err := s.validate(good); err != nil {
		t.Fatalf("good status: %v", err)
	}
	for _, bad := range []string{`{}`, `[]`, strings.Replace(string(good), `"shutter":"closed"`, `"shutter":"ajar"`, 1),
		strings.Replace(string(good), `{`, `{"extra":1,`, 1)} {
		if s.validate([]byte(bad)) == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestSessionRecordsSchemaAgreesWithParser: a session's start record
// (view_start, recording_start) has no end; its end record (view,
// recording) has one; the published schema and the hub's parser agree on
// each case.
func TestSessionRecordsSchemaAgreesWithParser(t *testing.T) {
	s := loadSchema(t, "audit.schema.json")
	const head = `{"id":"0123456789abcdef0123456789abcdef","time":"2026-11-03T10:00:00Z","node":"n",`
	const open = `"view":{"session":"s","role":"r","purpose":"p","remote":"1.2.3.4:5","start":"2026-11-03T10:00:00Z","frames":0`
	for _, tc := range []struct {
		name, payload string
		ok            bool
	}{
		{"view start", head + `"kind":"view_start",` + open + `}}`, true},
		{"recording start", head + `"kind":"recording_start",` + open + `}}`, true},
		{"view end", head + `"kind":"view",` + open + `,"end":"2026-11-03T10:01:00Z","ended":"closed"}}`, true},
		{"recording end", head + `"kind":"recording",` + open + `,"end":"2026-11-03T10:01:00Z","bytes":9,"ended":"closed"}}`, true},
		{"start with an end", head + `"kind":"view_start",` + open + `,"end":"2026-11-03T10:01:00Z"}}`, false},
		{"start with ended", head + `"kind":"recording_start",` + open + `,"ended":"closed"}}`, false},
		{"start without view", head + `"kind":"view_start"}`, false},
		{"end without end", head + `"kind":"view",` + open + `,"ended":"closed"}}`, false},
		{"end without ended", head + `"kind":"recording",` + open + `,"end":"2026-11-03T10:01:00Z"}}`, false},
		{"end without view", head + `"kind":"recording"}`, false},
		{"start without frames", head + `"kind":"view_start","view":{"session":"s","role":"r","purpose":"p","remote":"x","start":"2026-11-03T10:00:00Z"}}`, false},
	} {
		_, perr := ParseAuditRecord([]byte(tc.payload))
		serr := s.validate([]byte(tc.payload))
		if (perr == nil) != tc.ok || (serr == nil) != tc.ok {
			t.Errorf("%s: parser %v, schema %v, want ok %v", tc.name, perr, serr, tc.ok)
		}
	}
}
