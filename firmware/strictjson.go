// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxJSONSize bounds any JSON document camnode decodes from outside. Callers
// that know a smaller bound (a command, an identity) check it first.
const MaxJSONSize = 1 << 20

// DecodeJSON decodes exactly one JSON object from data into v, strictly. It
// is the one decoder for every untrusted JSON document the node reads (MQTT
// commands, control-socket requests, the identity, the state files, token
// claims), so that they all agree on what a document means:
//
//   - object member names match struct field names exactly, in case;
//   - a member name that appears twice, in any case folding, is an error
//     (so no reader can see "on" where another sees "off");
//   - unknown members, trailing data and invalid UTF-8 are errors;
//   - a field whose tag is not marked omitempty or omitzero is required:
//     absent or null is an error (a privacy file without a decision is not
//     a decision);
//   - documents larger than MaxJSONSize are refused unread.
//
// The JSON v2 semantics of github.com/go-json-experiment/json do the first
// three; DecodeJSON adds the case-folded duplicate check, required fields
// and the size bound.
func DecodeJSON(data []byte, v any) error { return decodeJSON(data, v, true) }

// DecodeJSONCompat is DecodeJSON for documents a newer node may have
// written for an older reader (the retained status, a command result): the
// same rules, except that members the reader does not know are ignored.
// Such documents evolve additively (docs/mqtt.md, "Compatibility"): a new
// version adds members and never renames, removes or changes the meaning of
// one, so an older camctl or hub still reads everything it knows. What a
// node obeys (commands, acks, its own files) stays on DecodeJSON: a member
// it does not understand there could change what the document means.
func DecodeJSONCompat(data []byte, v any) error { return decodeJSON(data, v, false) }

func decodeJSON(data []byte, v any, rejectUnknown bool) error {
	if len(data) > MaxJSONSize {
		return fmt.Errorf("JSON document of %d bytes, more than %d", len(data), MaxJSONSize)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("DecodeJSON: want a non-nil pointer")
	}
	// Check the shape first, so that v is not touched by a bad document.
	if err := checkShape(jsontext.Value(data), rv.Elem().Type(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v, json.RejectUnknownMembers(rejectUnknown)); err != nil {
		return cleanJSONError(err)
	}
	return nil
}

// cleanJSONError drops the Go type names from the library's messages: the
// reader of a fault or a refused command wants the member, not our types.
func cleanJSONError(err error) error {
	var se *json.SemanticError
	if errors.As(err, &se) {
		where := string(se.JSONPointer)
		if where == "" {
			where = "/"
		}
		msg := "wrong type"
		if errors.Is(se.Err, json.ErrUnknownName) {
			msg = "unknown field"
		} else if se.Err != nil {
			msg = se.Err.Error()
		} else if se.JSONKind != 0 {
			msg = "unexpected JSON " + se.JSONKind.String()
		}
		return fmt.Errorf("JSON %s: %s", where, msg)
	}
	return err
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	jsonFromDecoder = reflect.TypeFor[json.UnmarshalerFrom]()
)

// checkShape walks raw against t: objects must have no member twice under
// case folding and must carry every required field. It recurses into
// struct, pointer, slice and map types; types with their own unmarshalling
// (time.Time, for one) are left to it.
func checkShape(raw jsontext.Value, t reflect.Type, path string) error {
	if !raw.IsValid() {
		var v jsontext.Value
		err := json.Unmarshal(raw, &v)
		var se *jsontext.SyntacticError
		switch {
		case err == nil:
		case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &se):
			return fmt.Errorf("JSON %s: member appears twice", orRoot(string(se.JSONPointer)))
		case strings.Contains(err.Error(), "after top-level value"):
			return errors.New("JSON: trailing data after the JSON value")
		case len(raw) == 0:
			return errors.New("JSON: empty document (unexpected EOF)")
		default:
			return fmt.Errorf("JSON: %w", err)
		}
		return errors.New("JSON: not valid")
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(textUnmarshaler) || pt.Implements(jsonUnmarshaler) || pt.Implements(jsonFromDecoder) {
		return nil
	}
	switch raw.Kind() {
	case 'n':
		if path == "" && t.Kind() == reflect.Struct {
			// A document that is just null would leave every required
			// field unset without an error.
			return errors.New("JSON: null, want an object")
		}
		return nil // null where allowed is for the caller's field rules
	case '[':
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return nil // the decoder reports the type mismatch
		}
		var elems []jsontext.Value
		if err := json.Unmarshal(raw, &elems); err != nil {
			return cleanJSONError(err)
		}
		for i, e := range elems {
			if err := checkShape(e, t.Elem(), fmt.Sprintf("%s/%d", path, i)); err != nil {
				return err
			}
		}
		return nil
	case '{':
	default:
		return nil
	}
	members, err := objectMembers(raw, path)
	if err != nil {
		return err
	}
	switch t.Kind() {
	case reflect.Map:
		for name, v := range members {
			if err := checkShape(v, t.Elem(), path+"/"+name); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	for _, f := range jsonFields(t) {
		v, ok := members[f.name]
		if !f.optional && (!ok || v.Kind() == 'n') {
			if !ok {
				return fmt.Errorf("JSON %s/%s: missing", path, f.name)
			}
			return fmt.Errorf("JSON %s/%s: null, want a value", path, f.name)
		}
		if ok {
			if err := checkShape(v, f.typ, path+"/"+f.name); err != nil {
				return err
			}
		}
	}
	return nil
}

// objectMembers splits an object into its members, refusing a name that
// appears twice under Unicode case folding.
func objectMembers(raw jsontext.Value, path string) (map[string]jsontext.Value, error) {
	var members map[string]jsontext.Value
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, cleanJSONError(err)
	}
	seen := make(map[string]string, len(members))
	for name := range members {
		folded := strings.ToLower(strings.ToUpper(name))
		if other, dup := seen[folded]; dup {
			return nil, fmt.Errorf("JSON %s: member %q and %q differ only in case", orRoot(path), other, name)
		}
		seen[folded] = name
	}
	return members, nil
}

func orRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

type jsonField struct {
	name     string
	typ      reflect.Type
	optional bool
}

// jsonFields lists the JSON members a struct decodes, with the v2 tag rules
// camnode uses: the name is the tag's first part or the Go name; "-" skips;
// omitempty or omitzero make the member optional. An embedded struct
// without a JSON name is inlined, as the decoder does.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			// An embedded struct without a name is inlined (the status
			// payload embeds agent.Status): its members are this
			// object's members, required ones included.
			et := sf.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if name == "" {
			name = sf.Name
		}
		optional := false
		for _, o := range strings.Split(opts, ",") {
			if o == "omitempty" || o == "omitzero" {
				optional = true
			}
		}
		out = append(out, jsonField{name: name, typ: sf.Type, optional: optional})
	}
	return out
}
