// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

// parseKeysCases feeds TestParseKeysAndFormatKey and FuzzParseKeys. n is
// the number of keys (the first is testPub); errHas "" means it parses.
func parseKeysCases() []struct {
	name, in, errHas string
	n                int
} {
	line := FormatKey(testPub, "installer A. Installer")
	return []struct {
		name, in, errHas string
		n                int
	}{
		{"one key", line, "", 1},
		{"comments and blanks", "# pinned\n\n" + line + "\n  # end\n", "", 1},
		{"two keys", line + FormatKey(hubPub, ""), "", 2},
		{"CRLF", strings.ReplaceAll(line, "\n", "\r\n"), "", 1},
		{"no final newline", strings.TrimSuffix(line, "\n"), "", 1},
		{"tabs", strings.ReplaceAll(line, " ", "\t"), "", 1},
		{"empty", "", "no key found", 0},
		{"only comments", "# none\n", "no key found", 0},
		{"wrong prefix", "ssh-ed25519 " + base64.StdEncoding.EncodeToString(testPub) + "\n", "line 1", 0},
		{"prefix in another case", strings.ToUpper(KeyPrefix) + " " + base64.StdEncoding.EncodeToString(testPub) + "\n", "line 1", 0},
		{"missing key", KeyPrefix + "\n", "line 1", 0},
		{"short key", "# x\n" + KeyPrefix + " AAAA\n", "line 2", 0},
		{"long key", KeyPrefix + " " + base64.StdEncoding.EncodeToString(append(testPub, 0)) + "\n", "33 bytes", 0},
		{"not base64", KeyPrefix + " ***\n", "not base64", 0},
		{"URL base64", KeyPrefix + " " + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n", "not base64", 0},
		{"good then bad", line + "garbage\n", "line 2", 0},
		{"NUL", line + "\x00\n", "line 2", 0},
		{"too large", line + strings.Repeat("#\n", MaxKeyFileSize/2), "more than", 0},
	}
}

// FuzzParseKeys: an installer key file never panics the parser; what it
// accepts is a list of well-formed Ed25519 keys, one per key line, that
// FormatKey writes back into a file parsing to the same keys.
func FuzzParseKeys(f *testing.F) {
	for _, tc := range parseKeysCases() {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseKeys(data)
		if err != nil {
			if keys != nil {
				t.Fatalf("keys %v with error %v", keys, err)
			}
			return
		}
		lines := 0
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") {
				lines++
				if !strings.HasPrefix(l, KeyPrefix) {
					t.Fatalf("accepted line %q", l)
				}
			}
		}
		if len(keys) == 0 || len(keys) != lines {
			t.Fatalf("%d keys from %d key lines", len(keys), lines)
		}
		var again []byte
		for _, k := range keys {
			if len(k) != ed25519.PublicKeySize {
				t.Fatalf("key of %d bytes", len(k))
			}
			again = append(again, FormatKey(k, "")...)
		}
		keys2, err := ParseKeys(again)
		if err != nil || len(keys2) != len(keys) {
			t.Fatalf("FormatKey output does not parse back: %v", err)
		}
		for i := range keys {
			if !keys[i].Equal(keys2[i]) {
				t.Fatalf("key %d changed in a round trip", i)
			}
		}
	})
}

// A P-256 key in PKCS#8 (openssl genpkey -algorithm EC): the right PEM
// type, the wrong algorithm.
const ecPKCS8 = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWDRVwYMLTS8h5brp
LYK+4P4Io/eqQs1RKEWdvAev/POhRANCAATnm+xuFii5bgpYuqIGlbxAfpfcbD02
CHlCirXIwgi1TOWqVWakqXQXJk3HwXOD2BppElQWPBwiykT1DR8hr1n4
-----END PRIVATE KEY-----
`

// privateKeyCases feeds TestParsePrivateKey and FuzzParsePrivateKey;
// errHas "" means the key parses (and is testKey).
func privateKeyCases() []struct{ name, in, errHas string } {
	good, err := MarshalPrivateKey(testKey)
	if err != nil {
		panic(err)
	}
	k := string(good)
	der, _ := pem.Decode(good)
	lines := strings.Split(k, "\n") // BEGIN, the 64 base64 characters, END
	lines[1] = lines[1][:32] + "\n" + lines[1][32:]
	rewrapped := strings.Join(lines, "\n")
	return []struct{ name, in, errHas string }{
		{"camctl keygen", k, ""},
		{"surrounding blank lines", "\n\n" + k + "\n\n", ""},
		{"CRLF", strings.ReplaceAll(k, "\n", "\r\n"), ""},
		{"empty", "", "not a PEM"},
		{"garbage", "not a key", "not a PEM"},
		{"public key line", FormatKey(testPub, ""), "not a PEM"},
		{"wrong type", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der.Bytes})), "not a PEM"},
		{"bad DER", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), "asn1"},
		{"ecdsa", ecPKCS8, "want an Ed25519 key"},
		{"data after", k + "extra", "data after"},
		{"two keys", k + k, "data after"},
		{"data before", "extra\n" + k, "data before"},
		{"a broken block before", "-----BEGIN PRIVATE KEY-----0\n" + k, "data before"},
		{"rewrapped", rewrapped, "other line breaks"},
		{"headers", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: der.Bytes})), "headers"},
		{"truncated", k[:len(k)/2], "not a PEM"},
		{"too large", k + strings.Repeat(" ", MaxKeyFileSize), "more than"},
	}
}

func TestParsePrivateKey(t *testing.T) {
	for _, tc := range privateKeyCases() {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKey([]byte(tc.in))
			if tc.errHas == "" {
				if err != nil || !k.Equal(testKey) {
					t.Fatalf("ParsePrivateKey = %v, %v; want testKey", k, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.errHas)
			}
		})
	}
}

// FuzzParsePrivateKey: never panics; whatever it accepts is a whole,
// consistent Ed25519 key (its seed regenerates it) in one PEM block.
func FuzzParsePrivateKey(f *testing.F) {
	for _, tc := range privateKeyCases() {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data)
		if err != nil {
			if k != nil {
				t.Fatalf("key with error %v", err)
			}
			return
		}
		if len(k) != ed25519.PrivateKeySize || !ed25519.NewKeyFromSeed(k.Seed()).Equal(k) {
			t.Fatalf("inconsistent key from %q", data)
		}
		if bytes.Count(data, []byte("-----BEGIN")) != 1 {
			t.Fatalf("accepted %q with other than one PEM block", data)
		}
		// It marshals back to a file that parses to the same key.
		out, err := MarshalPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if k2, err := ParsePrivateKey(out); err != nil || !k2.Equal(k) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
