// SPDX-License-Identifier: Apache-2.0

//go:build integration

// These tests write real FAT images with mtools and dosfstools. Install
// them with scripts/install-test-deps-provision, then:
//
//	go test -tags integration ./cmd/camctl/
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"mcopy", "mmd", "mdir", "mdeltree", "mkfs.vfat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/install-test-deps-provision", tool)
		}
	}
}

// realImage makes a 48 MiB sparse image laid out like Raspberry Pi OS: an
// MBR written here, a FAT32 boot partition made by mkfs.vfat at an offset,
// and an (unformatted) Linux root partition.
func realImage(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "raspios.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(mbr([3]uint32{0x0c, 2048, 81920}, [3]uint32{0x83, 83968, 14336})); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(48 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("mkfs.vfat", "-F", "32", "-S", "512", "-s", "1", "-n", "BOOTFS", "--offset", "2048", p, "40960").CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	return p
}

// readBack copies camnode/NAME out of the image with mtools.
func readBack(t *testing.T, image, name string) []byte {
	t.Helper()
	b, err := runTool(t.Context(), "mcopy", "-i", image+"@@1048576", "::/camnode/"+name, "-")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func realEnv() provisionEnv {
	return provisionEnv{now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }, run: runTool, lookPath: exec.LookPath}
}

// tlsFixture writes a CA and a node certificate and key signed by it.
func tlsFixture(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test hub CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	nodeKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nodeDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ward3-corridor-01"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		caCert, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(nodeKey)
	ca = writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	cert = writeFile(t, dir, "node.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: nodeDER})))
	key = writeFile(t, dir, "node.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return ca, cert, key
}

func TestProvisionRealImage(t *testing.T) {
	needTools(t)
	f := newProvisionFixture(t, realImage)
	ca, cert, key := tlsFixture(t, f.dir)
	var out, errb bytes.Buffer
	err := provision(t.Context(), f.args("-initial-privacy", "off", "-hub-key", f.hub,
		"-broker", "mqtts://hub.example:8883", "-broker", "mqtts://hub2.example",
		"-ca", ca, "-cert", cert, "-node-key", key), &out, &errb, realEnv())
	if err != nil {
		t.Fatalf("provision: %v\n%s%s", err, out.String(), errb.String())
	}
	t.Logf("provision output:\n%s", out.String())
	for _, want := range []string{"zone verdict: camera may run", "/boot/firmware/camnode/identity.json", "sha256 ", "/boot/firmware/camnode/node.key"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// Read everything back with mtools and check it as the node will.
	pinned, err := firmware.ParseKeys(readBack(t, f.image, "installer-keys.pub"))
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := os.ReadFile(strings.TrimSuffix(f.key, ".key") + ".pub")
	if !pinned[0].Equal(mustParseKey(t, mine)) {
		t.Fatal("installer-keys.pub does not pin the installer's key")
	}
	id, err := firmware.VerifyIdentity(readBack(t, f.image, "identity.json"), pinned)
	if err != nil {
		t.Fatalf("identity read back from the image does not verify: %v", err)
	}
	if id.NodeID != "ward3-corridor-01" || id.ZoneClass != "corridor" || id.InitialPrivacy != "off" ||
		len(id.Brokers) != 2 || id.HubKey == "" || !id.IssuedAt.Equal(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("identity %+v", id)
	}
	if hub, err := readHubKey(f.hub); err != nil || base64.StdEncoding.EncodeToString(hub) != id.HubKey {
		t.Fatalf("identity hub_key %q is not the hub key of %s (%v)", id.HubKey, f.hub, err)
	}
	if _, err := config.Parse(readBack(t, f.image, "camnode.toml")); err != nil {
		t.Fatalf("camnode.toml from the image: %v", err)
	}
	// The node's audit key: its public half is in the signed identity.
	if ak, err := firmware.ParsePrivateKey(readBack(t, f.image, "audit.key")); err != nil ||
		base64.StdEncoding.EncodeToString(ak.Public().(ed25519.PublicKey)) != id.AuditKey || id.AuditKey == "" {
		t.Fatalf("audit.key in the image is not the identity's audit_key %q (%v)", id.AuditKey, err)
	}
	for local, name := range map[string]string{ca: "ca.pem", cert: "node.pem", key: "node.key"} {
		want, _ := os.ReadFile(local)
		if !bytes.Equal(readBack(t, f.image, name), want) {
			t.Errorf("%s differs in the image", name)
		}
	}

	// A second run is refused without -force, and changes nothing.
	before := sha(t, f.image)
	err = provision(t.Context(), f.args(), &bytes.Buffer{}, &bytes.Buffer{}, realEnv())
	var ee exitError
	if !errors.As(err, &ee) || !strings.Contains(ee.msg, "use -force") {
		t.Fatalf("re-provision: %v, want a refusal mentioning -force", err)
	}
	if sha(t, f.image) != before {
		t.Fatal("a refused re-provision changed the image")
	}

	// With -force it replaces the directory: no stale TLS key survives.
	out.Reset()
	if err := provision(t.Context(), f.args("-force", "-zone", "reception", "-room", "Front desk"), &out, &errb, realEnv()); err != nil {
		t.Fatalf("provision -force: %v\n%s", err, errb.String())
	}
	if _, err := runTool(t.Context(), "mdir", "-i", f.image+"@@1048576", "-b", "::/camnode/node.key"); err == nil {
		t.Fatal("node.key from the first provisioning survived -force")
	}
	if id, err := firmware.VerifyIdentity(readBack(t, f.image, "identity.json"), pinned); err != nil || id.ZoneClass != "reception" {
		t.Fatalf("after -force: %+v %v", id, err)
	}
}

func TestProvisionClinicalZoneIsLoud(t *testing.T) {
	needTools(t)
	f := newProvisionFixture(t, realImage)
	var out, errb bytes.Buffer
	if err := provision(t.Context(), f.args("-zone", "office", "-room", "Consulting Room 3"), &out, &errb, realEnv()); err != nil {
		t.Fatalf("provisioning a clinical room must be allowed: %v", err)
	}
	for _, w := range []*bytes.Buffer{&out, &errb} {
		if s := w.String(); !strings.Contains(s, "ZONE VERDICT: clinical zone") || !strings.Contains(s, "will NEVER run") {
			t.Fatalf("verdict not loud enough:\n%s", s)
		}
	}
	pinned, _ := firmware.ParseKeys(readBack(t, f.image, "installer-keys.pub"))
	if id, err := firmware.VerifyIdentity(readBack(t, f.image, "identity.json"), pinned); err != nil || id.Room != "Consulting Room 3" {
		t.Fatalf("%+v %v", id, err)
	}
}

func TestProvisionBadInputLeavesRealImageIdentical(t *testing.T) {
	needTools(t)
	f := newProvisionFixture(t, realImage)
	before := sha(t, f.image)
	for _, tc := range badProvisionCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			err := provision(t.Context(), tc.args, &bytes.Buffer{}, &bytes.Buffer{}, realEnv())
			var ee exitError
			if !errors.As(err, &ee) || !strings.Contains(ee.msg, tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if sha(t, f.image) != before {
				t.Fatal("the image changed")
			}
		})
	}
	if _, err := runTool(t.Context(), "mdir", "-i", f.image+"@@1048576", "-b", "::/camnode"); err == nil {
		t.Fatal("camnode/ exists after only bad inputs")
	}
}
