// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/firmware"
)

// mbr builds a 512-byte sector with the given (type, start, sectors)
// entries and the 55 AA signature.
func mbr(parts ...[3]uint32) []byte {
	s := make([]byte, 512)
	for i, p := range parts {
		e := s[446+16*i:]
		e[4] = byte(p[0])
		binary.LittleEndian.PutUint32(e[8:], p[1])
		binary.LittleEndian.PutUint32(e[12:], p[2])
	}
	s[510], s[511] = 0x55, 0xAA
	return s
}

// mbrCases feeds TestParseMBR and the seeds of FuzzParseMBR.
var mbrCases = []struct {
	name   string
	sector []byte
	size   int64
	start  uint32 // expected start LBA when errHas == ""
	index  int
	errHas string
}{
	{"raspberry pi os layout", mbr([3]uint32{0x0c, 8192, 1048576}, [3]uint32{0x83, 1056768, 4194304}), 3 << 30, 8192, 1, ""},
	{"fat16 lba", mbr([3]uint32{0x0e, 2048, 100}), 1 << 22, 2048, 1, ""},
	{"fat second", mbr([3]uint32{0x83, 2048, 100}, [3]uint32{0x0b, 4096, 100}), 1 << 22, 4096, 2, ""},
	{"no signature", make([]byte, 512), 1 << 20, 0, 0, "no MBR partition table"},
	{"short", []byte{0x55, 0xAA}, 2, 0, 0, "too small"},
	{"gpt", mbr([3]uint32{0xee, 1, 1000}), 1 << 20, 0, 0, "GPT"},
	{"empty table", mbr(), 1 << 20, 0, 0, "empty"},
	{"only linux", mbr([3]uint32{0x83, 2048, 100}), 1 << 22, 0, 0, "no FAT partition (partitions 1:0x83)"},
	{"beyond end", mbr([3]uint32{0x0c, 2048, 1 << 20}), 1 << 20, 0, 0, "beyond the end"},
	{"start zero", mbr([3]uint32{0x0c, 0, 100}), 1 << 20, 0, 0, "starts at sector 0"},
	{"huge values", mbr([3]uint32{0x0c, 0xffffffff, 0xffffffff}), 1 << 40, 0, 0, "beyond the end"},
}

func TestParseMBR(t *testing.T) {
	for _, tc := range mbrCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseMBR(tc.sector, tc.size)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want %q", err, tc.errHas)
				}
				return
			}
			if err != nil || p.startLBA != tc.start || p.index != tc.index {
				t.Fatalf("got %+v %v, want partition %d at %d", p, err, tc.index, tc.start)
			}
		})
	}
}

func FuzzParseMBR(f *testing.F) {
	for _, tc := range mbrCases {
		f.Add(tc.sector, tc.size)
	}
	f.Fuzz(func(t *testing.T, sector []byte, size int64) {
		p, err := parseMBR(sector, size)
		if err != nil {
			return
		}
		if _, ok := fatTypes[p.typ]; !ok || p.startLBA == 0 || p.offset()+int64(p.sectors)*512 > size {
			t.Fatalf("accepted %+v for an image of %d bytes", p, size)
		}
	})
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "alice")
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"keygen", "-kind", "installer", "-out", prefix}, nil, &out, &errb); err != nil {
		t.Fatalf("keygen: %v %s", err, errb.String())
	}
	st, err := os.Stat(prefix + ".key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", st.Mode(), err)
	}
	priv, err := readPrivateKey(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile(prefix + ".pub")
	if !strings.HasPrefix(string(pub), "camnode-installer-ed25519 ") || !strings.Contains(string(pub), " installer\n") {
		t.Fatalf("pub file %q", pub)
	}
	keyBefore, _ := os.ReadFile(prefix + ".key")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"refuses to overwrite", []string{"-kind", "hub", "-out", prefix}, "exists; refusing to overwrite"},
		{"refuses when only pub exists", []string{"-kind", "hub", "-out", strings.TrimSuffix(writeFile(t, dir, "bob.pub", "x"), ".pub")}, "bob.pub exists"},
		{"no kind", []string{"-out", filepath.Join(dir, "c")}, "-kind: required"},
		{"bad kind", []string{"-kind", "viewer", "-out", filepath.Join(dir, "c")}, `-kind: "viewer"`},
		{"no out", []string{"-kind", "hub"}, "-out: required"},
		{"two-line comment", []string{"-kind", "hub", "-out", filepath.Join(dir, "c"), "-comment", "a\nb"}, "-comment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cmdKeygen(t.Context(), tc.args, nil, &out, &errb)
			var ee exitError
			if !errors.As(err, &ee) || !strings.Contains(ee.msg, tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if after, _ := os.ReadFile(prefix + ".key"); !bytes.Equal(after, keyBefore) {
		t.Fatal("the key file changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "bob.key")); err == nil {
		t.Fatal("a refused keygen left bob.key")
	}
	if _, err := os.Stat(filepath.Join(dir, "c.key")); err == nil {
		t.Fatal("a refused keygen left c.key")
	}
	if !priv.Public().(ed25519.PublicKey).Equal(mustParseKey(t, pub)) {
		t.Fatal(".pub does not hold the public half of .key")
	}
}

func mustParseKey(t *testing.T, line []byte) ed25519.PublicKey {
	t.Helper()
	keys, err := firmware.ParseKeys(line)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParseKeys(%q): %v", line, err)
	}
	return keys[0]
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeImage writes a file with a valid MBR and a FAT32 boot sector at
// sector 2048: enough for every check before mtools runs.
func fakeImage(t *testing.T, dir string) string {
	t.Helper()
	img := make([]byte, 4096*512)
	copy(img, mbr([3]uint32{0x0c, 2048, 2048}))
	boot := img[2048*512:]
	copy(boot[0x52:], "FAT32   ")
	boot[510], boot[511] = 0x55, 0xAA
	p := filepath.Join(dir, "pi.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// provisionFixture makes keys and an image for provisioning tests.
type provisionFixture struct {
	dir, image, key, hub string
}

func newProvisionFixture(t *testing.T, image func(t *testing.T, dir string) string) provisionFixture {
	t.Helper()
	dir := t.TempDir()
	f := provisionFixture{dir: dir, key: filepath.Join(dir, "inst"), hub: filepath.Join(dir, "hub")}
	for _, kind := range []string{"installer", "hub"} {
		prefix := f.key
		if kind == "hub" {
			prefix = f.hub
		}
		if err := cmdKeygen(t.Context(), []string{"-kind", kind, "-out", prefix}, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	f.key += ".key"
	f.hub += ".pub"
	f.image = image(t, dir)
	return f
}

func (f provisionFixture) args(extra ...string) []string {
	base := []string{"-image", f.image, "-key", f.key, "-node", "ward3-corridor-01", "-site", "St Example", "-room", "Ward 3 corridor", "-zone", "corridor"}
	// Later flags win, so a case can override any of the above.
	return append(base, extra...)
}

// badProvisionCases: each must be refused naming the flag or field, with
// the image unchanged. Shared with the integration test.
func badProvisionCases(f provisionFixture) []struct {
	name string
	args []string
	want string
} {
	notPEM := writeFileNoT(f.dir, "notpem.key", "hello")
	badCfg := writeFileNoT(f.dir, "bad.toml", "[camera]\nfps = 0\n")
	wrongPath := writeFileNoT(f.dir, "wrong.toml", "[node]\nidentity_file = \"/etc/camnode/identity.json\"\n[gpio]\nsimulate = true\n")
	garbage := writeFileNoT(f.dir, "garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	return []struct {
		name string
		args []string
		want string
	}{
		{"missing everything", []string{}, "-image: required"},
		{"missing node", f.args("-node", ""), "-node: required"},
		{"missing zone", f.args("-zone", " "), "-zone: required"},
		{"bad node id", f.args("-node", "Ward 3"), "identity node_id"},
		{"too long site", f.args("-site", strings.Repeat("x", 200)), "identity site: longer than 128"},
		{"bad initial privacy", f.args("-initial-privacy", "maybe"), "-initial-privacy"},
		{"missing key file", f.args("-key", filepath.Join(f.dir, "nope.key")), "-key:"},
		{"key not PEM", f.args("-key", notPEM), "-key: " + notPEM + ": not a PEM"},
		{"hub key is a private key", f.args("-hub-key", f.key), "-hub-key:"},
		{"bad broker scheme", f.args("-broker", "http://hub:80"), "-broker: \"http://hub:80\": scheme"},
		{"broker without host", f.args("-broker", "mqtts://"), "no host"},
		{"broker with path", f.args("-broker", "mqtts://hub/x"), "only scheme://host"},
		{"invalid config", f.args("-config", badCfg), "-config: " + badCfg + ": camera.fps"},
		{"config reads identity elsewhere", f.args("-config", wrongPath), "node.identity_file"},
		{"missing config", f.args("-config", filepath.Join(f.dir, "none.toml")), "-config:"},
		{"ca not a cert", f.args("-ca", notPEM), "-ca:"},
		{"cert without key", f.args("-cert", garbage), "-node-key: required with -cert"},
		{"key without cert", f.args("-node-key", notPEM), "-cert: required with -node-key"},
		{"bad cert pair", f.args("-cert", garbage, "-node-key", notPEM), "-cert/-node-key"},
		{"image missing", f.args("-image", filepath.Join(f.dir, "none.img")), "-image:"},
		{"image not an image", f.args("-image", notPEM), "-image: " + notPEM + ": too small"},
		{"image is a directory", f.args("-image", f.dir), "not a regular file"},
		{"unexpected argument", append(f.args(), "extra"), "unexpected argument"},
		{"mask without shape", f.args("-mask", "0.1,0.2,0.4,0.9"), `-mask: "0.1,0.2,0.4,0.9": want rect:`},
		{"mask unknown shape", f.args("-mask", "circle:0.5,0.5,0.1"), `-mask: "circle:0.5,0.5,0.1": unknown shape "circle"`},
		{"mask rect beyond the picture", f.args("-mask", "rect:0.1,0.2,1.4,0.9"), "-mask: \"rect:0.1,0.2,1.4,0.9\": rect coordinate 1.4 outside [0, 1]"},
		{"mask rect empty", f.args("-mask", "rect:0.4,0.2,0.1,0.9"), "-mask: \"rect:0.4,0.2,0.1,0.9\": rect [0.4 0.2 0.1 0.9] is empty"},
		{"mask rect three numbers", f.args("-mask", "rect:0.1,0.2,0.4"), "rect: 3 numbers, want 4"},
		{"mask rect NaN", f.args("-mask", "rect:NaN,0.2,0.4,0.9"), "outside [0, 1]"},
		{"mask rect not a number", f.args("-mask", "rect:0.1,x,0.4,0.9"), `-mask: "rect:0.1,x,0.4,0.9": rect: "x" is not a number`},
		{"mask poly two points", f.args("-mask", "poly:0,0;1,1"), "poly has 2 points, want 3..32"},
		{"mask poly bad point", f.args("-mask", "poly:0,0;1;0,1"), "poly point 1: 1 numbers, want 2"},
		{"mask poly collinear", f.args("-mask", "poly:0,0;0.5,0.5;1,1"), "poly encloses no area"},
		{"17 masks", f.args(slices.Repeat([]string{"-mask", "rect:0,0,0.5,0.5"}, 17)...), "-mask: masks: 17 masks, at most 16"},
	}
}

func writeFileNoT(dir, name, data string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		panic(err) // test set-up only
	}
	return p
}

func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// noTools is a provisionEnv that fails the test if any tool runs.
func noTools(t *testing.T) provisionEnv {
	return provisionEnv{
		now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) },
		run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			t.Errorf("ran %s %q: bad input must be refused before the image is touched", name, args)
			return nil, errors.New("no tools in unit tests")
		},
		lookPath: func(string) (string, error) { return "", errors.New("not found") },
	}
}

func TestProvisionRefusesBadInputBeforeTouchingTheImage(t *testing.T) {
	f := newProvisionFixture(t, fakeImage)
	before := sha(t, f.image)
	for _, tc := range badProvisionCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := provision(t.Context(), tc.args, &out, &errb, noTools(t))
			var ee exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, tc.want) {
				t.Fatalf("err = %v (%s), want exit 2 naming %q", err, errb.String(), tc.want)
			}
			if !strings.Contains(ee.msg, "nothing written") && tc.name != "unexpected argument" {
				t.Fatalf("message %q does not say nothing was written", ee.msg)
			}
			if sha(t, f.image) != before {
				t.Fatal("the image changed")
			}
		})
	}
}

func TestProvisionNeedsMtools(t *testing.T) {
	f := newProvisionFixture(t, fakeImage)
	err := provision(t.Context(), f.args(), &bytes.Buffer{}, &bytes.Buffer{}, noTools(t))
	var ee exitError
	if !errors.As(err, &ee) || !strings.Contains(ee.msg, "install mtools") {
		t.Fatalf("err = %v, want a hint to install mtools", err)
	}
}

// TestHubKeygenRoundTrip: the hub key from camctl keygen -kind hub goes into
// camctl provision -hub-key (the identity's hub_key) and signs tokens with
// camctl token that a node holding that hub_key accepts. Its .pub is a PEM
// PUBLIC KEY, which the installer key file refuses: a hub key pasted into
// installer-keys.pub can never sign identities.
func TestHubKeygenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "hub")
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"keygen", "-kind", "hub", "-out", prefix, "-comment", "St Example hub"}, nil, &out, &errb); err != nil {
		t.Fatalf("keygen: %v %s", err, errb.String())
	}
	pubFile, _ := os.ReadFile(prefix + ".pub")
	if !strings.Contains(string(pubFile), "-----BEGIN PUBLIC KEY-----") || !strings.Contains(string(pubFile), "St Example hub") {
		t.Fatalf("hub .pub is not a commented PEM PUBLIC KEY:\n%s", pubFile)
	}
	if keys, err := firmware.ParseKeys(pubFile); err == nil {
		t.Fatalf("the installer key file accepts the hub key (%d keys): it could sign identities", len(keys))
	}
	priv, err := readPrivateKey(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := readHubKey(prefix + ".pub")
	if err != nil {
		t.Fatalf("provision's -hub-key reader: %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal(".pub does not hold the public half of .key")
	}

	// What provision writes into the identity, and what the node decodes.
	hubKey, err := firmware.DecodePublicKey(base64.StdEncoding.EncodeToString(pub))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"token", "-key", prefix + ".key", "-node", "n1", "-viewer", "v", "-role", "staff", "-purpose", "p"}, nil, &out, &errb); err != nil {
		t.Fatalf("token: %v %s", err, errb.String())
	}
	v, err := token.NewVerifier(hubKey, "n1", []string{"staff"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(strings.TrimSpace(out.String())); err != nil {
		t.Fatalf("a node with the provisioned hub_key refuses camctl token's token: %v", err)
	}

	// An installer key line is refused as a hub key, saying what to use.
	inst := filepath.Join(dir, "inst")
	if err := run(t.Context(), []string{"keygen", "-kind", "installer", "-out", inst}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if _, err := readHubKey(inst + ".pub"); err == nil || !strings.Contains(err.Error(), "keygen -kind hub") {
		t.Fatalf("installer key as hub key: %v", err)
	}
}

// fakeMtools is a provisionEnv whose mtools keep the files in a map, so a
// unit test can read back what provisioning signed.
func fakeMtools(files map[string][]byte) provisionEnv {
	return provisionEnv{
		now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) },
		run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			switch {
			case name == "mcopy" && len(args) == 6: // -i img -D o local dst
				b, err := os.ReadFile(args[4])
				files[args[5]] = b
				return nil, err
			case name == "mcopy" && len(args) == 4: // -i img src -
				return files[args[2]], nil
			case name == "mdir":
				return nil, errors.New("not found")
			}
			return nil, nil
		},
		lookPath: func(s string) (string, error) { return "/usr/bin/" + s, nil },
	}
}

// TestProvisionMasks: every -mask lands, in order, in the signed identity
// the node verifies.
func TestProvisionMasks(t *testing.T) {
	f := newProvisionFixture(t, fakeImage)
	files := map[string][]byte{}
	args := f.args("-mask", "rect:0.1,0.2,0.4,0.9", "-mask", " poly:0.5,0.5; 1,0.5;1,1 ", "-mask", "rect:0,0,1,1")
	var out, errb bytes.Buffer
	if err := provision(t.Context(), args, &out, &errb, fakeMtools(files)); err != nil {
		t.Fatalf("provision: %v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "privacy masks: 3, signed into the identity") || !strings.Contains(out.String(), "  poly [[0.5 0.5] [1 0.5] [1 1]]\n") {
		t.Errorf("the installer is not shown the masks:\n%s", out.String())
	}
	priv, err := readPrivateKey(f.key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := firmware.VerifyIdentity(files["::/camnode/identity.json"], []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	want := []firmware.Mask{
		{Rect: []float64{0.1, 0.2, 0.4, 0.9}},
		{Poly: [][]float64{{0.5, 0.5}, {1, 0.5}, {1, 1}}},
		{Rect: []float64{0, 0, 1, 1}},
	}
	got, _ := json.Marshal(id.Masks)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(got, wantJSON) {
		t.Fatalf("signed masks %s, want %s", got, wantJSON)
	}
}

// maskFlagCases feed TestParseMask and the seeds of FuzzParseMask.
var maskFlagCases = []struct {
	in     string
	want   string // JSON of the mask, or "" when refused
	errHas string
}{
	{"rect:0.1,0.2,0.4,0.9", `{"rect":[0.1,0.2,0.4,0.9]}`, ""},
	{" rect: 0 , 0 , 1 , 1 ", `{"rect":[0,0,1,1]}`, ""},
	{"poly:0,0;1,0;0,1", `{"poly":[[0,0],[1,0],[0,1]]}`, ""},
	{"poly:0,0;1,1;1,0;0,1", `{"poly":[[0,0],[1,1],[1,0],[0,1]]}`, ""},
	{"rect:1e-3,0.5,0.5,1", `{"rect":[0.001,0.5,0.5,1]}`, ""},
	{"", "", "want rect:"},
	{"rect", "", "want rect:"},
	{"RECT:0,0,1,1", "", `unknown shape "RECT"`},
	{"rect:", "", "rect: 1 numbers, want 4"},
	{"rect:0,,1,1", "", `rect: "" is not a number`},
	{"rect:0,0,1,1,1", "", "5 numbers, want 4"},
	{"rect:0,0,1,Inf", "", "outside [0, 1]"},
	{"rect:0,0,1,0x1p-2", `{"rect":[0,0,1,0.25]}`, ""},
	{"rect:0,0.5,1,0.5", "", "is empty"},
	{"rect:0,0,1,1e400", "", "is not a number"},
	{"poly:0,0;1,0", "", "poly has 2 points"},
	{"poly:0,0;1,0;", "", "poly point 2"},
	{"poly:0,0;1,0;0.5", "", "poly point 2: 1 numbers, want 2"},
	{"poly:0,0;0,0;0,0", "", "no area"},
}

func TestParseMask(t *testing.T) {
	for _, tc := range maskFlagCases {
		m, err := firmware.ParseMask(tc.in)
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.errHas)
			}
			continue
		}
		got, _ := json.Marshal(m)
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseMask: any -mask value is refused or gives a mask the node
// accepts.
func FuzzParseMask(f *testing.F) {
	for _, tc := range maskFlagCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := firmware.ParseMask(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("error %v does not quote the value", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted %q: %v", s, err)
		}
	})
}
