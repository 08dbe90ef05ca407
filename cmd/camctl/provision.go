// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/camnode/camnode/agent"
	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/firmware"
)

const provisionUsage = `usage: camctl provision -image FILE.img -key installer.key -node ID -site S -room R -zone Z
        [-initial-privacy on|off] [-hub-key hub.pub] [-broker URL ...] [-config camnode.toml]
        [-ca ca.pem -cert node.pem -node-key node.key] [-installer NAME] [-force]
        [-mask rect:X0,Y0,X1,Y1 | -mask poly:X,Y;X,Y;X,Y ...]

Writes identity.json (signed, naming the node's new audit key), audit.key
(the node's audit private key: docs/audit.md), installer-keys.pub, camnode.toml and the TLS
files into camnode/ on the first FAT partition (the boot partition) of a
Raspberry Pi OS image, without mounting it (mtools). Everything is checked
before the image is touched.

Privacy masks (-mask) are signed into the identity: no configuration key,
local command or hub command can move or remove them. To change them,
provision again (-force).`

// bootDir is the directory on the boot partition that provisioning owns;
// Raspberry Pi OS mounts the partition at /boot/firmware.
const (
	bootDir   = "camnode"
	bootMount = "/boot/firmware"
)

// provisionEnv is what cmdProvision takes from the world.
type provisionEnv struct {
	now func() time.Time
	// run runs a tool and returns its standard output.
	run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// lookPath finds a tool, as exec.LookPath.
	lookPath func(string) (string, error)
}

func cmdProvision(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return provision(ctx, args, stdout, stderr, provisionEnv{now: time.Now, run: runTool, lookPath: exec.LookPath})
}

// runTool runs an mtools command; MTOOLS_SKIP_CHECK lets mtools accept
// file systems whose geometry it finds odd (common in image files).
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// outFile is one file provisioning writes into camnode/.
type outFile struct {
	name string
	data []byte
}

func provision(ctx context.Context, args []string, stdout, stderr io.Writer, env provisionEnv) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, provisionUsage); fs.PrintDefaults() }
	image := fs.String("image", "", "Raspberry Pi OS image file (required)")
	keyPath := fs.String("key", "", "installer private key from camctl keygen -kind installer (required)")
	node := fs.String("node", "", "node id: 1-63 of a-z, 0-9, '-' (required)")
	site := fs.String("site", "", "site name (required)")
	room := fs.String("room", "", "room label as on the door (required)")
	zone := fs.String("zone", "", "zone class, e.g. corridor, reception (required)")
	privacy := fs.String("initial-privacy", "on", "privacy mode on first boot: on or off")
	hubKey := fs.String("hub-key", "", "hub public key file from camctl keygen -kind hub")
	var brokers []string
	fs.Func("broker", "MQTT broker URL, e.g. mqtts://hub.example:8883 (repeatable)", func(s string) error {
		brokers = append(brokers, s)
		return nil
	})
	var masks []firmware.Mask
	var maskProblems []string
	fs.Func("mask", "privacy mask, signed into the identity, in coordinates relative to the picture (0..1 from\n"+
		"the top-left): rect:X0,Y0,X1,Y1 or poly:X,Y;X,Y;X,Y... (repeatable, at most 16)", func(s string) error {
		m, err := firmware.ParseMask(s)
		if err != nil {
			maskProblems = append(maskProblems, "-mask: "+err.Error())
		}
		masks = append(masks, m)
		return nil
	})
	cfgPath := fs.String("config", "", "camnode.toml to install (default: the built-in sample)")
	caPath := fs.String("ca", "", "CA certificate(s) of the broker, PEM")
	certPath := fs.String("cert", "", "node client certificate, PEM (with -node-key)")
	nodeKeyPath := fs.String("node-key", "", "node client private key, PEM (with -cert)")
	installer := fs.String("installer", "", "who provisions the node (default: the installer key id)")
	force := fs.Bool("force", false, "replace an existing camnode/ directory in the image")
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return exitError{code: 2, msg: fmt.Sprintf("camctl provision: unexpected argument %q\n%s", fs.Arg(0), provisionUsage)}
	}

	// 1. Check everything; collect every problem, each naming its flag.
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	for _, f := range []struct{ flag, v string }{{"-image", *image}, {"-key", *keyPath}, {"-node", *node}, {"-site", *site}, {"-room", *room}, {"-zone", *zone}} {
		if strings.TrimSpace(f.v) == "" {
			bad("%s: required", f.flag)
		}
	}
	if *privacy != "on" && *privacy != "off" {
		bad("-initial-privacy: %q must be on or off", *privacy)
	}
	problems = append(problems, maskProblems...)
	var priv ed25519.PrivateKey
	if *keyPath != "" {
		var err error
		if priv, err = readPrivateKey(*keyPath); err != nil {
			bad("-key: %v", err)
		}
	}
	var hub string
	if *hubKey != "" {
		if pub, err := readHubKey(*hubKey); err != nil {
			bad("-hub-key: %v", err)
		} else {
			hub = base64.StdEncoding.EncodeToString(pub)
		}
	}
	for _, b := range brokers {
		if err := checkBrokerURL(b); err != nil {
			bad("-broker: %v", err)
		}
	}
	cfgData := firmware.SampleConfig()
	cfgName := "built-in sample"
	if *cfgPath != "" {
		cfgName = *cfgPath
		var err error
		if cfgData, err = os.ReadFile(*cfgPath); err != nil {
			bad("-config: %v", err)
		}
	}
	if cfgData != nil {
		if c, err := config.Parse(cfgData); err != nil {
			bad("-config: %s: %v", cfgName, strings.ReplaceAll(err.Error(), "\n", "; "))
		} else {
			if want := path.Join(bootMount, bootDir, "identity.json"); c.Node.IdentityFile != want {
				bad("-config: %s: node.identity_file is %q; provisioning writes %q", cfgName, c.Node.IdentityFile, want)
			}
			if want := path.Join(bootMount, bootDir, "installer-keys.pub"); c.Node.InstallerKeysFile != want {
				bad("-config: %s: node.installer_keys_file is %q; provisioning writes %q", cfgName, c.Node.InstallerKeysFile, want)
			}
		}
	}
	tlsFiles, tlsProblems := readTLSFiles(*caPath, *certPath, *nodeKeyPath)
	problems = append(problems, tlsProblems...)

	var files []outFile
	var allowed bool
	var reason string
	if priv != nil {
		pub := priv.Public().(ed25519.PublicKey)
		who := *installer
		if who == "" {
			who = "installer key " + firmware.KeyID(pub)
		}
		auditKey, auditPEM := newAuditKey()
		id := firmware.Identity{
			NodeID: *node, Site: *site, Room: *room, ZoneClass: *zone,
			InitialPrivacy: *privacy, HubKey: hub, Brokers: brokers, Masks: masks,
			Installer: who, IssuedAt: env.now().UTC().Truncate(time.Second),
			AuditKey: auditKey,
		}
		if len(maskProblems) > 0 {
			// Already reported, naming -mask.
		} else if err := id.Validate(); err != nil {
			for _, e := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(e, "masks") {
					e = "-mask: " + e
				}
				bad("identity %s", e)
			}
		} else if signed, err := firmware.SignIdentity(id, priv); err != nil {
			bad("identity: %v", err)
		} else if _, err := firmware.VerifyIdentity(signed, []ed25519.PublicKey{pub}); err != nil {
			bad("identity: signed file does not verify: %v", err)
		} else {
			allowed, reason = agent.ZoneVerdict(id, nil)
			files = append(files,
				outFile{"identity.json", signed},
				outFile{"installer-keys.pub", []byte(firmware.FormatKey(pub, "installer "+oneLine(who)))},
				outFile{"audit.key", auditPEM})
		}
	}
	files = append(files, outFile{"camnode.toml", cfgData})
	files = append(files, tlsFiles...)

	var part mbrPartition
	if *image != "" {
		var err error
		if part, err = findBootPartition(*image); err != nil {
			bad("-image: %v", err)
		}
	}
	if len(problems) > 0 {
		return exitError{code: 2, msg: "camctl provision: nothing written:\n  " + strings.Join(problems, "\n  ")}
	}
	for _, tool := range []string{"mmd", "mcopy", "mdir", "mdeltree"} {
		if _, err := env.lookPath(tool); err != nil {
			return exitError{code: 1, msg: "camctl provision: nothing written: " + tool + " not found; install mtools"}
		}
	}

	// 2. The zone verdict, loudly when the camera will never run.
	if allowed {
		fmt.Fprintf(stdout, "zone verdict: camera may run (zone %q, room %q)\n", *zone, *room)
	} else {
		banner := strings.Repeat("!", 72)
		msg := fmt.Sprintf("%s\n!! ZONE VERDICT: %s\n!! The camera of node %s will NEVER run in room %q.\n!! Provisioning continues: the node will report its status, but it is\n!! locked dark by rules compiled into the agent, forever.\n%s\n", banner, reason, *node, *room, banner)
		fmt.Fprint(stdout, msg)
		fmt.Fprint(stderr, msg)
	}

	if len(masks) > 0 {
		fmt.Fprintf(stdout, "privacy masks: %d, signed into the identity (only provisioning again changes them):\n", len(masks))
		for _, m := range masks {
			if m.Rect != nil {
				fmt.Fprintf(stdout, "  rect %v\n", m.Rect)
			} else {
				fmt.Fprintf(stdout, "  poly %v\n", m.Poly)
			}
		}
	}

	// 3. Write, then read back and compare.
	img := fmt.Sprintf("%s@@%d", *image, part.offset())
	if _, err := env.run(ctx, "mdir", "-i", img, "-b", "::/"+bootDir); err == nil {
		if !*force {
			return exitError{code: 1, msg: fmt.Sprintf("camctl provision: nothing written: %s already has %s/ on its boot partition (provisioned before?); use -force to replace it", *image, bootDir)}
		}
		// Replace, not merge: no stale file (an old node key) survives.
		if _, err := env.run(ctx, "mdeltree", "-i", img, "::/"+bootDir); err != nil {
			return exitError{code: 1, msg: "camctl provision: " + err.Error()}
		}
		fmt.Fprintf(stdout, "removed the old %s/ (-force)\n", bootDir)
	}
	if _, err := env.run(ctx, "mmd", "-i", img, "::/"+bootDir); err != nil {
		return exitError{code: 1, msg: "camctl provision: " + err.Error()}
	}
	tmp, err := os.MkdirTemp("", "camctl-provision-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(stdout, "writing to %s, partition %d (type 0x%02x, FAT at byte offset %d):\n", *image, part.index, part.typ, part.offset())
	for _, f := range files {
		local := filepath.Join(tmp, f.name)
		if err := os.WriteFile(local, f.data, 0o600); err != nil {
			return err
		}
		dst := "::/" + bootDir + "/" + f.name
		if _, err := env.run(ctx, "mcopy", "-i", img, "-D", "o", local, dst); err != nil {
			return exitError{code: 1, msg: "camctl provision: " + err.Error()}
		}
		back, err := env.run(ctx, "mcopy", "-i", img, dst, "-")
		if err != nil {
			return exitError{code: 1, msg: "camctl provision: reading back: " + err.Error()}
		}
		if !bytes.Equal(back, f.data) {
			return exitError{code: 1, msg: fmt.Sprintf("camctl provision: %s reads back different from what was written", dst)}
		}
		sum := sha256.Sum256(f.data)
		fmt.Fprintf(stdout, "  %s/%s/%-20s %6d bytes  sha256 %s\n", bootMount, bootDir, f.name, len(f.data), hex.EncodeToString(sum[:]))
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkBrokerURL accepts mqtt:// and mqtts:// (and the tcp/ssl/tls
// spellings) with a host.
func checkBrokerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	switch u.Scheme {
	case "mqtt", "mqtts", "tcp", "ssl", "tls":
	default:
		return fmt.Errorf("%q: scheme must be mqtts:// or mqtt://", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q: no host", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: only scheme://host[:port] is allowed", s)
	}
	return nil
}

// readTLSFiles reads and checks the broker CA and the node's client
// certificate and key; -cert and -node-key go together.
func readTLSFiles(caPath, certPath, keyPath string) ([]outFile, []string) {
	var files []outFile
	var problems []string
	if caPath != "" {
		b, err := os.ReadFile(caPath)
		switch {
		case err != nil:
			problems = append(problems, "-ca: "+err.Error())
		case !x509.NewCertPool().AppendCertsFromPEM(b):
			problems = append(problems, fmt.Sprintf("-ca: %s has no PEM certificate", caPath))
		default:
			files = append(files, outFile{"ca.pem", b})
		}
	}
	switch {
	case certPath == "" && keyPath == "":
	case certPath == "":
		problems = append(problems, "-cert: required with -node-key")
	case keyPath == "":
		problems = append(problems, "-node-key: required with -cert")
	default:
		cb, err1 := os.ReadFile(certPath)
		kb, err2 := os.ReadFile(keyPath)
		if err := errors.Join(err1, err2); err != nil {
			problems = append(problems, "-cert/-node-key: "+err.Error())
			break
		}
		if _, err := tls.X509KeyPair(cb, kb); err != nil {
			problems = append(problems, fmt.Sprintf("-cert/-node-key: %s and %s: %v", certPath, keyPath, err))
			break
		}
		files = append(files, outFile{"node.pem", cb}, outFile{"node.key", kb})
	}
	return files, problems
}

// mbrPartition is one primary partition of an MBR partition table.
type mbrPartition struct {
	index    int // 1..4
	typ      byte
	startLBA uint32
	sectors  uint32
}

func (p mbrPartition) offset() int64 { return int64(p.startLBA) * 512 }

// fatTypes are the MBR partition types of FAT file systems.
var fatTypes = map[byte]string{0x01: "FAT12", 0x04: "FAT16", 0x06: "FAT16", 0x0b: "FAT32", 0x0c: "FAT32 LBA", 0x0e: "FAT16 LBA"}

// parseMBR returns the first FAT partition of the partition table in
// sector (the image's first 512 bytes), checked against the image size.
func parseMBR(sector []byte, imageSize int64) (mbrPartition, error) {
	if len(sector) < 512 || imageSize < 512 {
		return mbrPartition{}, errors.New("too small to hold a partition table")
	}
	if sector[510] != 0x55 || sector[511] != 0xAA {
		return mbrPartition{}, errors.New("no MBR partition table (no 55 AA signature at byte 510)")
	}
	var types []string
	for i := range 4 {
		e := sector[446+16*i : 446+16*(i+1)]
		p := mbrPartition{index: i + 1, typ: e[4], startLBA: binary.LittleEndian.Uint32(e[8:]), sectors: binary.LittleEndian.Uint32(e[12:])}
		if p.typ == 0 {
			continue
		}
		types = append(types, fmt.Sprintf("%d:0x%02x", p.index, p.typ))
		if p.typ == 0xee {
			return mbrPartition{}, errors.New("GPT partition table (protective MBR); Raspberry Pi OS images use MBR")
		}
		if _, ok := fatTypes[p.typ]; !ok {
			continue
		}
		end := (int64(p.startLBA) + int64(p.sectors)) * 512
		switch {
		case p.startLBA == 0 || p.sectors == 0:
			return mbrPartition{}, fmt.Errorf("partition %d (type 0x%02x) starts at sector %d with %d sectors", p.index, p.typ, p.startLBA, p.sectors)
		case end > imageSize:
			return mbrPartition{}, fmt.Errorf("partition %d ends at byte %d, beyond the end of the image (%d bytes); truncated image?", p.index, end, imageSize)
		}
		return p, nil
	}
	if len(types) == 0 {
		return mbrPartition{}, errors.New("the partition table is empty")
	}
	return mbrPartition{}, fmt.Errorf("no FAT partition (partitions %s)", strings.Join(types, ", "))
}

// isFAT reports whether boot is the boot sector of a FAT file system.
func isFAT(boot []byte) bool {
	if len(boot) < 512 || boot[510] != 0x55 || boot[511] != 0xAA {
		return false
	}
	return bytes.HasPrefix(boot[0x36:], []byte("FAT")) || bytes.HasPrefix(boot[0x52:], []byte("FAT32"))
}

// findBootPartition opens the image read-only and returns its first FAT
// partition, checking that it really holds a FAT file system.
func findBootPartition(image string) (mbrPartition, error) {
	f, err := os.Open(image)
	if err != nil {
		return mbrPartition{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return mbrPartition{}, err
	}
	if !st.Mode().IsRegular() {
		return mbrPartition{}, fmt.Errorf("%s is not a regular file (write to an image file, not a device)", image)
	}
	if st.Mode().Perm()&0o222 == 0 {
		return mbrPartition{}, fmt.Errorf("%s is read-only", image)
	}
	sector := make([]byte, 512)
	if _, err := io.ReadFull(f, sector); err != nil {
		return mbrPartition{}, fmt.Errorf("%s: %s", image, "too small to hold a partition table")
	}
	p, err := parseMBR(sector, st.Size())
	if err != nil {
		return mbrPartition{}, fmt.Errorf("%s: %w", image, err)
	}
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, p.offset()); err != nil || !isFAT(boot) {
		return mbrPartition{}, fmt.Errorf("%s: partition %d (type 0x%02x) at sector %d is not formatted FAT", image, p.index, p.typ, p.startLBA)
	}
	return p, nil
}

// readHubKey reads a hub public key written by camctl keygen -kind hub (PEM
// "PUBLIC KEY"). An installer key-file line is refused with what to do: it
// is an installer's key, or a hub.pub from a camctl that wrote hub keys in
// that format.
func readHubKey(path string) (ed25519.PublicKey, error) {
	b, err := firmware.ReadFile(path, firmware.MaxKeyFileSize)
	if err != nil {
		return nil, err
	}
	pub, err := firmware.ParsePublicKey(b)
	if err == nil {
		return pub, nil
	}
	if keys, kerr := firmware.ParseKeys(b); kerr == nil && len(keys) > 0 {
		return nil, fmt.Errorf("%s is an installer key-file line, not a hub public key: use the .pub of camctl keygen -kind hub "+
			"(a PEM PUBLIC KEY; from a hub .key: openssl pkey -in hub.key -pubout)", path)
	}
	return nil, fmt.Errorf("%s: %w", path, err)
}
