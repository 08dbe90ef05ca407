// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Test keys from fixed seeds: the tests are deterministic, and no key here
// is pinned anywhere real.
var (
	testKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	testPub  = testKey.Public().(ed25519.PublicKey)
	hubPub   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
)

func validIdentity() Identity {
	return Identity{
		NodeID:    "ward3-corridor-01",
		Site:      "St Example Hospital",
		Room:      "Ward 3 corridor",
		ZoneClass: "corridor",
		Installer: "A. Installer",
		IssuedAt:  time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC),
	}
}

// signRaw signs arbitrary payload bytes into an envelope, so that the
// tests can sign payloads SignIdentity would refuse.
func signRaw(t testing.TB, format string, payload []byte, priv ed25519.PrivateKey) []byte {
	t.Helper()
	env := envelope{Format: format, KeyID: KeyID(priv.Public().(ed25519.PublicKey)), Payload: payload, Signature: ed25519.Sign(priv, payload)}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signID(t testing.TB, id Identity, priv ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := SignIdentity(id, priv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// payloadJSON marshals id and applies edit to the generic map, so a case
// can drop, add or corrupt a field and still sign the result.
func payloadJSON(t testing.TB, id Identity, edit func(map[string]any)) []byte {
	t.Helper()
	b, _ := json.Marshal(id)
	return editEnvelope(t, b, edit)
}

// editEnvelope decodes a JSON object (a signed file, a payload) into a
// map, edits it and re-encodes it.
func editEnvelope(t testing.TB, file []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(file, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type identityCase struct {
	name string
	file func(t testing.TB) []byte
	keys []ed25519.PublicKey // nil means {testPub}
	// want is the identity on success; errIs and errHas describe failure.
	want   *Identity
	errIs  error
	errHas string
}

// identityCases is the one table behind TestVerifyIdentity and the seeds of
// FuzzVerifyIdentity.
func identityCases() []identityCase {
	full := validIdentity()
	full.InitialPrivacy = "off"
	full.HubKey = base64.StdEncoding.EncodeToString(hubPub)
	full.Brokers = []string{"mqtts://hub.example:8883", "mqtts://hub2.example:8883"}
	full.AuditKey = base64.StdEncoding.EncodeToString(hubPub)
	min := validIdentity()
	masked := validIdentity()
	masked.Masks = []Mask{
		{Rect: []float64{0, 0, 1, 0.25}},
		{Rect: []float64{0.1, 0.2, 0.4, 0.9}},
		{Poly: [][]float64{{0.5, 0.5}, {1, 0.5}, {1, 1}, {0.75, 0.9}}},
	}
	many := func(n int) []any {
		ms := make([]any, n)
		for i := range ms {
			ms[i] = map[string]any{"rect": []any{0, 0, 0.5, 0.5}}
		}
		return ms
	}
	with := func(f func(*Identity)) Identity { id := validIdentity(); f(&id); return id }
	payloadEdit := func(f func(map[string]any)) func(testing.TB) []byte {
		return func(t testing.TB) []byte {
			return signRaw(t, IdentityFormat, payloadJSON(t, validIdentity(), f), testKey)
		}
	}
	maskEdit := func(masks ...any) func(testing.TB) []byte {
		return payloadEdit(func(m map[string]any) { m["masks"] = masks })
	}
	return []identityCase{
		{name: "valid minimal", file: func(t testing.TB) []byte { return signID(t, min, testKey) }, want: &min},
		{name: "valid full", file: func(t testing.TB) []byte { return signID(t, full, testKey) }, want: &full},
		{name: "valid with the key second of two", keys: []ed25519.PublicKey{otherKey.Public().(ed25519.PublicKey), testPub},
			file: func(t testing.TB) []byte { return signID(t, min, testKey) }, want: &min},
		{name: "valid compact envelope", file: func(t testing.TB) []byte {
			b, _ := json.Marshal(json.RawMessage(signID(t, min, testKey)))
			var out bytes.Buffer
			_ = json.Compact(&out, b)
			return out.Bytes()
		}, want: &min},

		{name: "bad signature", errIs: ErrBadSig, file: func(t testing.TB) []byte {
			return editEnvelope(t, signID(t, min, testKey), func(m map[string]any) {
				sig, _ := base64.StdEncoding.DecodeString(m["signature"].(string))
				sig[0] ^= 0x80
				m["signature"] = base64.StdEncoding.EncodeToString(sig)
			})
		}},
		{name: "payload changed after signing", errIs: ErrBadSig, file: func(t testing.TB) []byte {
			other := with(func(id *Identity) { id.ZoneClass = "reception" })
			p, _ := json.Marshal(other)
			return editEnvelope(t, signID(t, min, testKey), func(m map[string]any) { m["payload"] = base64.StdEncoding.EncodeToString(p) })
		}},
		{name: "unknown key", errIs: ErrUnknownKey, file: func(t testing.TB) []byte { return signID(t, min, otherKey) }},
		{name: "key_id of a pinned key over another key's signature", errIs: ErrBadSig, file: func(t testing.TB) []byte {
			return editEnvelope(t, signID(t, min, otherKey), func(m map[string]any) { m["key_id"] = KeyID(testPub) })
		}},
		{name: "no keys pinned", keys: []ed25519.PublicKey{}, errHas: "no installer keys pinned",
			file: func(t testing.TB) []byte { return signID(t, min, testKey) }},
		{name: "unsigned", errIs: ErrUnsigned, file: func(t testing.TB) []byte {
			return editEnvelope(t, signID(t, min, testKey), func(m map[string]any) { delete(m, "signature") })
		}},
		{name: "empty signature", errIs: ErrUnsigned, file: func(t testing.TB) []byte {
			return editEnvelope(t, signID(t, min, testKey), func(m map[string]any) { m["signature"] = "" })
		}},
		{name: "wrong format tag", errHas: `format "camnode-identity/2"`, file: func(t testing.TB) []byte {
			return signRaw(t, "camnode-identity/2", payloadJSON(t, min, func(map[string]any) {}), testKey)
		}},
		{name: "missing format tag", errHas: "format", file: func(t testing.TB) []byte {
			return editEnvelope(t, signID(t, min, testKey), func(m map[string]any) { delete(m, "format") })
		}},
		{name: "trailing data", errHas: "trailing data", file: func(t testing.TB) []byte {
			return append(signID(t, min, testKey), []byte(`{"format":"x"}`)...)
		}},
		{name: "two envelopes", errHas: "trailing data", file: func(t testing.TB) []byte {
			f := signID(t, min, testKey)
			return append(f, f...)
		}},
		{name: "unknown envelope field", errHas: "unknown field", file: func(t testing.TB) []byte {
			return editEnvelope(t, signID(t, min, testKey), func(m map[string]any) { m["zone_override"] = "clinical-ok" })
		}},
		{name: "unknown payload field, signed", errHas: "unknown field", file: payloadEdit(func(m map[string]any) { m["allow_capture"] = true })},
		{name: "oversized", errHas: "larger than", file: func(t testing.TB) []byte {
			return append(signID(t, min, testKey), bytes.Repeat([]byte(" "), MaxIdentitySize)...)
		}},
		{name: "empty file", errHas: "EOF", file: func(testing.TB) []byte { return nil }},
		{name: "not JSON", errHas: "invalid character", file: func(testing.TB) []byte { return []byte("camnode-identity/1\n") }},
		{name: "payload not base64", errHas: "illegal base64", file: func(t testing.TB) []byte {
			return editEnvelope(t, signID(t, min, testKey), func(m map[string]any) { m["payload"] = "%%%" })
		}},
		{name: "payload not JSON, signed", errHas: "identity payload", file: func(t testing.TB) []byte {
			return signRaw(t, IdentityFormat, []byte("node_id=x"), testKey)
		}},
		{name: "missing site, signed", errHas: "site: missing", file: payloadEdit(func(m map[string]any) { delete(m, "site") })},
		{name: "missing zone_class, signed", errHas: "zone_class: missing", file: payloadEdit(func(m map[string]any) { delete(m, "zone_class") })},
		{name: "missing installer and issued_at, signed", errHas: "installer: missing", file: payloadEdit(func(m map[string]any) {
			delete(m, "installer")
			delete(m, "issued_at")
		})},
		{name: "blank room, signed", errHas: "room: missing", file: payloadEdit(func(m map[string]any) { m["room"] = "   " })},
		{name: "bad node_id uppercase, signed", errHas: "node_id", file: payloadEdit(func(m map[string]any) { m["node_id"] = "Ward3" })},
		{name: "bad node_id path, signed", errHas: "node_id", file: payloadEdit(func(m map[string]any) { m["node_id"] = "../etc" })},
		{name: "bad node_id too long, signed", errHas: "node_id", file: payloadEdit(func(m map[string]any) { m["node_id"] = strings.Repeat("a", 64) })},
		{name: "bad hub_key not base64, signed", errHas: "hub_key", file: payloadEdit(func(m map[string]any) { m["hub_key"] = "not a key" })},
		{name: "bad hub_key short, signed", errHas: "hub_key", file: payloadEdit(func(m map[string]any) { m["hub_key"] = base64.StdEncoding.EncodeToString([]byte("short")) })},
		{name: "bad audit_key not base64, signed", errHas: "audit_key", file: payloadEdit(func(m map[string]any) { m["audit_key"] = "not a key" })},
		{name: "bad audit_key short, signed", errHas: "audit_key", file: payloadEdit(func(m map[string]any) { m["audit_key"] = base64.StdEncoding.EncodeToString([]byte("short")) })},
		{name: "bad audit_key wrong case name, signed", errHas: "Audit_Key", file: payloadEdit(func(m map[string]any) { m["Audit_Key"] = base64.StdEncoding.EncodeToString(hubPub) })},
		{name: "bad initial_privacy, signed", errHas: "initial_privacy", file: payloadEdit(func(m map[string]any) { m["initial_privacy"] = "maybe" })},
		// A signed payload that one reader sees as "consulting" and another
		// as "corridor" must be refused, whatever the order (issue 9, item 8).
		{name: "duplicate zone_class, signed", errHas: "twice", file: zoneTwice(`"zone_class":"consulting","zone_class":"corridor"`)},
		{name: "case-variant zone_class, signed", errHas: "differ only in case", file: zoneTwice(`"zone_class":"consulting","Zone_Class":"corridor"`)},
		{name: "upper-case zone_class only, signed", errHas: "zone_class: missing", file: zoneTwice(`"ZONE_CLASS":"corridor"`)},
		{name: "duplicate envelope payload", errHas: "twice", file: func(t testing.TB) []byte {
			f := signID(t, min, testKey)
			return bytes.Replace(f, []byte(`"payload":`), []byte(`"payload":"e30=","payload":`), 1)
		}},
		{name: "valid with masks", file: func(t testing.TB) []byte { return signID(t, masked, testKey) }, want: &masked},
		{name: "valid with 16 masks", file: maskEdit(many(16)...), want: func() *Identity {
			id := validIdentity()
			for range 16 {
				id.Masks = append(id.Masks, Mask{Rect: []float64{0, 0, 0.5, 0.5}})
			}
			return &id
		}()},
		// Masks are refused like any bad identity: the camera stays locked.
		{name: "17 masks, signed", errHas: "masks: 17 masks, at most 16", file: maskEdit(many(17)...)},
		{name: "mask rect beyond 1, signed", errHas: "masks[0]: rect coordinate 1.5 outside [0, 1]", file: maskEdit(map[string]any{"rect": []any{0, 0, 1.5, 1}})},
		{name: "mask rect negative, signed", errHas: "masks[1]: rect coordinate -0.1", file: maskEdit(
			map[string]any{"rect": []any{0, 0, 1, 1}}, map[string]any{"rect": []any{-0.1, 0, 1, 1}})},
		{name: "mask rect empty, signed", errHas: "masks[0]: rect [0.5 0 0.5 1] is empty", file: maskEdit(map[string]any{"rect": []any{0.5, 0, 0.5, 1}})},
		{name: "mask rect inverted, signed", errHas: "is empty", file: maskEdit(map[string]any{"rect": []any{0, 0.9, 1, 0.1}})},
		{name: "mask rect three numbers, signed", errHas: "rect has 3 numbers", file: maskEdit(map[string]any{"rect": []any{0, 0, 1}})},
		{name: "mask rect [], signed", errHas: "rect has 0 numbers", file: maskEdit(map[string]any{"rect": []any{}})},
		{name: "mask rect strings, signed", errHas: "identity payload", file: maskEdit(map[string]any{"rect": []any{"0", 0, 1, 1}})},
		{name: "mask rect overflowing number, signed", errHas: "identity payload", file: func(t testing.TB) []byte {
			p := bytes.Replace(payloadJSON(t, validIdentity(), func(m map[string]any) { m["masks"] = []any{map[string]any{"rect": []any{0, 0, 0.5, 1}}} }),
				[]byte("0.5"), []byte("1e999"), 1)
			return signRaw(t, IdentityFormat, p, testKey)
		}},
		{name: "mask neither, signed", errHas: "masks[0]: has neither rect nor poly", file: maskEdit(map[string]any{})},
		{name: "mask both, signed", errHas: "has both rect and poly", file: maskEdit(map[string]any{"rect": []any{0, 0, 1, 1}, "poly": []any{[]any{0, 0}, []any{1, 0}, []any{0, 1}}})},
		{name: "mask unknown shape, signed", errHas: "unknown field", file: maskEdit(map[string]any{"circle": []any{0.5, 0.5, 0.1}})},
		{name: "mask poly two points, signed", errHas: "poly has 2 points, want 3..32", file: maskEdit(map[string]any{"poly": []any{[]any{0, 0}, []any{1, 1}}})},
		{name: "mask poly 33 points, signed", errHas: "poly has 33 points", file: func() func(testing.TB) []byte {
			pts := make([]any, 33)
			for i := range pts {
				pts[i] = []any{float64(i) / 32, float64(i%2) / 2}
			}
			return maskEdit(map[string]any{"poly": pts})
		}()},
		{name: "mask poly point with three numbers, signed", errHas: "poly point 1 has 3 numbers", file: maskEdit(map[string]any{"poly": []any{[]any{0, 0}, []any{1, 0, 0}, []any{0, 1}}})},
		{name: "mask poly point beyond 1, signed", errHas: "poly point 2 [0 1.01] outside", file: maskEdit(map[string]any{"poly": []any{[]any{0, 0}, []any{1, 0}, []any{0, 1.01}}})},
		{name: "mask poly no area, signed", errHas: "poly encloses no area", file: maskEdit(map[string]any{"poly": []any{[]any{0, 0}, []any{0.5, 0.5}, []any{1, 1}}})},
		{name: "masks not a list, signed", errHas: "identity payload", file: payloadEdit(func(m map[string]any) { m["masks"] = map[string]any{"rect": []any{0, 0, 1, 1}} })},
		{name: "site too long, signed", errHas: "site: longer than 128", file: payloadEdit(func(m map[string]any) { m["site"] = strings.Repeat("s", 129) })},
	}
}

func TestVerifyIdentity(t *testing.T) {
	for _, tc := range identityCases() {
		t.Run(tc.name, func(t *testing.T) {
			keys := tc.keys
			if keys == nil {
				keys = []ed25519.PublicKey{testPub}
			}
			id, err := VerifyIdentity(tc.file(t), keys)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("VerifyIdentity: %v", err)
				}
				if !identityEqual(id, *tc.want) {
					t.Fatalf("got %+v\nwant %+v", id, *tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("VerifyIdentity succeeded, want an error (%v%s)", tc.errIs, tc.errHas)
			}
			if tc.errIs != nil && !errors.Is(err, tc.errIs) {
				t.Fatalf("err = %v, want errors.Is %v", err, tc.errIs)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.errHas)
			}
			if !identityEqual(id, Identity{}) {
				t.Fatalf("failed verification returned a non-zero identity %+v", id)
			}
		})
	}
}

func identityEqual(a, b Identity) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestSignIdentityRefusesInvalid(t *testing.T) {
	id := validIdentity()
	id.NodeID = ""
	id.Site = ""
	_, err := SignIdentity(id, testKey)
	if err == nil || !strings.Contains(err.Error(), "node_id") || !strings.Contains(err.Error(), "site: missing") {
		t.Fatalf("err = %v, want both node_id and site named", err)
	}
	if _, err := SignIdentity(validIdentity(), testKey[:10]); err == nil {
		t.Fatal("a short private key signed")
	}
}

func TestParseKeysAndFormatKey(t *testing.T) {
	for _, tc := range parseKeysCases() {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseKeys([]byte(tc.in))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want %q", err, tc.errHas)
				}
				return
			}
			if err != nil || len(keys) != tc.n {
				t.Fatalf("got %d keys, %v; want %d", len(keys), err, tc.n)
			}
			if !keys[0].Equal(testPub) {
				t.Fatal("first key differs")
			}
		})
	}
	if got := KeyID(testPub); len(got) != 32 || got == KeyID(hubPub) {
		t.Fatalf("KeyID = %q", got)
	}
}

// goldenDir holds a real identity file signed by `camctl provision`.
const goldenDir = "testdata/identity"

func readGolden(t testing.TB) ([]byte, []ed25519.PublicKey) {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(goldenDir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(goldenDir, "installer-keys.pub"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	return file, keys
}

func TestGoldenIdentity(t *testing.T) {
	file, keys := readGolden(t)
	id, err := VerifyIdentity(file, keys)
	if err != nil {
		t.Fatalf("the committed identity no longer verifies: %v", err)
	}
	if id.NodeID != "demo-reception-01" || id.ZoneClass != "reception" || id.Room != "Main reception" {
		t.Fatalf("unexpected identity %+v (see %s/README.md)", id, goldenDir)
	}
	// The fixed-seed test key is not the golden file's key.
	if _, err := VerifyIdentity(file, []ed25519.PublicKey{testPub}); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("verified with a key that did not sign it: %v", err)
	}
}

// TestGoldenIdentityEveryByteFlip flips each bit-0 of every byte of the
// real file: the result either fails or, for a change outside the signed
// bytes that JSON ignores, verifies to the very same identity.
func TestGoldenIdentityEveryByteFlip(t *testing.T) {
	file, keys := readGolden(t)
	want, err := VerifyIdentity(file, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := range file {
		for _, mask := range []byte{0x01, 0x20, 0x80} {
			m := bytes.Clone(file)
			m[i] ^= mask
			got, err := VerifyIdentity(m, keys)
			if err == nil && !identityEqual(got, want) {
				t.Fatalf("byte %d ^ %#x verified to a different identity %+v", i, mask, got)
			}
		}
	}
}

// FuzzVerifyIdentity: VerifyIdentity never panics, never returns an
// identity with an error, and whatever verifies carries a payload that was
// really signed (no mutation forges a signature).
func FuzzVerifyIdentity(f *testing.F) {
	signed := map[string]bool{} // payloads signed by testKey
	for _, tc := range identityCases() {
		b := tc.file(f)
		f.Add(b)
		var env envelope
		if json.Unmarshal(b, &env) == nil && ed25519.Verify(testPub, env.Payload, env.Signature) {
			signed[string(env.Payload)] = true
		}
	}
	golden, goldenKeys := readGolden(f)
	f.Add(golden)
	keys := append([]ed25519.PublicKey{testPub}, goldenKeys...)
	var genv envelope
	if err := json.Unmarshal(golden, &genv); err != nil {
		f.Fatal(err)
	}
	signed[string(genv.Payload)] = true

	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := VerifyIdentity(data, keys)
		if err != nil {
			if !identityEqual(id, Identity{}) {
				t.Fatalf("error %v with identity %+v", err, id)
			}
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("verified an invalid identity: %v", err)
		}
		var env envelope
		if err := DecodeJSON(data, &env); err != nil {
			t.Fatalf("verified but does not decode: %v", err)
		}
		if !signed[string(env.Payload)] {
			t.Fatalf("verified a payload that was never signed: %q", env.Payload)
		}
	})
}

// zoneTwice signs a valid identity payload whose zone_class member is
// replaced by the raw members given.
func zoneTwice(members string) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		p := payloadJSON(t, validIdentity(), func(m map[string]any) { m["zone_class"] = "@@ZONE@@" })
		p = bytes.Replace(p, []byte(`"zone_class":"@@ZONE@@"`), []byte(members), 1)
		return signRaw(t, IdentityFormat, p, testKey)
	}
}
