// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// strictDoc is a stand-in for every wire type: a required field, an
// optional one, a nested object, a list and a type with its own decoder.
type strictDoc struct {
	Privacy string        `json:"privacy"`
	ID      string        `json:"id,omitempty"`
	At      time.Time     `json:"at,omitzero"`
	Inner   *strictInner  `json:"inner,omitempty"`
	List    []strictInner `json:"list,omitempty"`
}

type strictInner struct {
	Zone string `json:"zone"`
}

// strictCases feeds TestDecodeJSON and FuzzDecodeJSON's seeds. errHas ""
// means the document must decode.
var strictCases = []struct {
	name, doc, errHas string
}{
	{"minimal", `{"privacy":"on"}`, ""},
	{"all fields", `{"privacy":"on","id":"x","at":"2026-01-02T03:04:05Z","inner":{"zone":"corridor"},"list":[{"zone":"a"}]}`, ""},
	{"duplicate exact", `{"privacy":"on","privacy":"off"}`, "twice"},
	{"duplicate case variant", `{"privacy":"on","Privacy":"off"}`, "differ only in case"},
	{"case variant alone", `{"Privacy":"off"}`, "privacy: missing"},
	{"upper case only", `{"PRIVACY":"off"}`, "privacy: missing"},
	{"unicode case fold (Kelvin sign)", "{\"privacy\":\"on\",\"id\":\"a\",\"\u212a\":1}", "unknown field"},
	{"nested duplicate", `{"privacy":"on","inner":{"zone":"consulting","zone":"corridor"}}`, "twice"},
	{"nested case variant", `{"privacy":"on","inner":{"zone":"consulting","Zone":"corridor"}}`, "differ only in case"},
	{"list element case variant", `{"privacy":"on","list":[{"zone":"a","ZONE":"b"}]}`, "differ only in case"},
	{"missing required", `{"id":"x"}`, "privacy: missing"},
	{"null required", `{"privacy":null}`, "privacy: null"},
	{"nested missing required", `{"privacy":"on","inner":{}}`, "inner/zone: missing"},
	{"unknown field", `{"privacy":"on","extra":1}`, "unknown field"},
	{"trailing data", `{"privacy":"on"} {"privacy":"off"}`, "trailing data"},
	{"trailing garbage", `{"privacy":"on"}x`, "trailing data"},
	{"empty", ``, "EOF"},
	{"not JSON", `privacy=on`, "invalid character"},
	{"array", `[{"privacy":"on"}]`, "JSON"},
	{"null document", `null`, "null, want an object"},
	{"wrong type", `{"privacy":1}`, "/privacy"},
	{"invalid UTF-8", "{\"privacy\":\"o\xffn\"}", "UTF-8"},
	{"bad time", `{"privacy":"on","at":"yesterday"}`, "/at"},
	{"too large", `{"privacy":"` + strings.Repeat("a", MaxJSONSize) + `"}`, "more than"},
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			d := strictDoc{Privacy: "untouched"}
			err := DecodeJSON([]byte(tc.doc), &d)
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("DecodeJSON(%s): %v", tc.doc, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeJSON(%s) = %+v, want an error containing %q", tc.doc, d, tc.errHas)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.errHas)
			}
		})
	}
}

// DecodeJSONCompat applies every rule of DecodeJSON except that it ignores
// members the reader does not know: same table, same verdicts, but for the
// unknown-member cases, which it accepts.
func TestDecodeJSONCompat(t *testing.T) {
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			d := strictDoc{Privacy: "untouched"}
			err := DecodeJSONCompat([]byte(tc.doc), &d)
			want := tc.errHas
			if want == "unknown field" {
				want = ""
			}
			if want == "" {
				if err != nil {
					t.Fatalf("DecodeJSONCompat(%s): %v", tc.doc, err)
				}
				if d.Privacy == "untouched" {
					t.Fatalf("DecodeJSONCompat(%s) left the target untouched", tc.doc)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to contain %q", err, want)
			}
		})
	}
}

// A document refused for its shape leaves the destination untouched.
func TestDecodeJSONLeavesTargetOnShapeError(t *testing.T) {
	d := strictDoc{Privacy: "on"}
	if err := DecodeJSON([]byte(`{"privacy":"off","Privacy":"on"}`), &d); err == nil {
		t.Fatal("no error")
	}
	if d.Privacy != "on" {
		t.Fatalf("privacy = %q after a refused document", d.Privacy)
	}
}

// FuzzDecodeJSON: never panics, and whatever it accepts has no two member
// names equal under case folding and carries the required field.
func FuzzDecodeJSON(f *testing.F) {
	for _, tc := range strictCases {
		if len(tc.doc) < 4096 {
			f.Add([]byte(tc.doc))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d strictDoc
		if err := DecodeJSON(data, &d); err != nil {
			return
		}
		var c strictDoc
		if err := DecodeJSONCompat(data, &c); err != nil || !reflect.DeepEqual(c, d) {
			t.Fatalf("accepted strictly but not in compat mode (or differently): %v", err)
		}
		var m map[string]any
		if err := DecodeJSON(data, &m); err != nil {
			t.Fatalf("accepted as a struct but not as a map: %v", err)
		}
		if _, ok := m["privacy"]; !ok {
			t.Fatalf("accepted %q without the required member", data)
		}
	})
}
