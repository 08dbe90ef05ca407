// SPDX-License-Identifier: Apache-2.0

//go:build integration && linux && cgo

package recorder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/mqtt/mqtttest"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/firmware/firmwaretest"
)

// Picture of the test nodes: small, so that x264 and the decoders stay
// light on a busy 2-core machine, but large enough for the stamp. The
// benchmarks use the live view's benchmark picture (640x480@30) instead.
const (
	nodeW, nodeH, nodeFPS = 320, 240, 15
)

// picture is a node's camera size and rate.
type picture struct{ w, h, fps int }

var (
	testPicture  = picture{nodeW, nodeH, nodeFPS}
	benchPicture = picture{640, 480, 30}
)

// node is a real `camnode run` process with [recorder] on loopback: the
// recorder "nvr" by client certificate (CN nvr-cert, site CA), "vms" by
// Digest (password vmsPassword).
type node struct {
	t      testing.TB
	bin    string
	dir    string
	sock   string
	addr   string // recorder host:port
	pki    *mqtttest.PKI
	cmd    *exec.Cmd
	log    *firmwaretest.SyncBuffer
	exited chan struct{}
}

// camnodeBin builds cmd/camnode (or takes $CAMNODE_BIN).
func camnodeBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CAMNODE_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "camnode")
	cmd := exec.Command("go", "build", "-o", out, "github.com/camnode/camnode/cmd/camnode")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/camnode: %v\n%s", err, b)
	}
	return out
}

// startNode provisions a node (signed identity with masks, pinned
// installer key, site PKI) and runs `camnode run` with privacy off until
// the recorder stream answers.
func startNode(t testing.TB, masks []firmware.Mask) *node {
	t.Helper()
	return startNodeWith(t, masks, testPicture)
}

func startNodeWith(t testing.TB, masks []firmware.Mask, pic picture) *node {
	t.Helper()
	n := &node{t: t, bin: camnodeBin(t), dir: t.TempDir(), pki: mqtttest.NewPKI(t),
		log: &firmwaretest.SyncBuffer{}, exited: make(chan struct{})}
	instPub, instPriv, _ := ed25519.GenerateKey(rand.Reader)
	signed, err := firmware.SignIdentity(firmware.Identity{NodeID: "rec-test", Site: "Test", Room: "Front desk",
		ZoneClass: "reception", InitialPrivacy: "off", Installer: "test", IssuedAt: time.Now().UTC(), Masks: masks}, instPriv)
	if err != nil {
		t.Fatal(err)
	}
	idFile, keysFile := filepath.Join(n.dir, "identity.json"), filepath.Join(n.dir, "installer-keys.pub")
	if err := os.WriteFile(idFile, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keysFile, []byte(firmware.FormatKey(instPub, "test installer")), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key := n.pki.Issue(t, "node", true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	ln.Close()
	n.sock = filepath.Join(n.dir, "control.sock")
	conf := fmt.Sprintf(`
[node]
identity_file = %q
installer_keys_file = %q
state_dir = %q
control_socket = %q
[camera]
source = "synthetic"
width = %d
height = %d
fps = %d
formats = ["I420"]
[gpio]
simulate = true
[log]
level = "info"
[recorder]
listen = %q
cert_file = %q
key_file = %q
client_ca_file = %q
max_sessions = 8
[[recorder.recorders]]
name = "nvr"
cert_name = "nvr-cert"
[[recorder.recorders]]
name = "vms"
digest_ha1 = %q
`, idFile, keysFile, filepath.Join(n.dir, "state"), n.sock, pic.w, pic.h, pic.fps,
		n.addr, cert, key, n.pki.CAFile(), md5hex("vms:"+Realm+":"+vmsPassword))
	confFile := filepath.Join(n.dir, "camnode.toml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(n.bin, "run", "-config", confFile)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("camnode log:\n%s", n.log.String())
		}
	})
	n.waitStream()
	return n
}

// waitStream waits (generous deadline) until a recorder can DESCRIBE.
func (n *node) waitStream() {
	t := n.t
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-n.exited:
			t.Fatalf("camnode run exited:\n%s", n.log.String())
		default:
		}
		if _, err := describe(t, "rtsps", n.addr, "vms:"+vmsPassword+"@", n.clientTLS("")); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorder stream not up after 60 s:\n%s", n.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// privacy switches privacy with `camnode privacy`, which returns once the
// node acknowledged it.
func (n *node) privacy(mode string) {
	t := n.t
	t.Helper()
	out, err := exec.Command(n.bin, "privacy", "-socket", n.sock, "-timeout", "30s", mode).CombinedOutput()
	if err != nil {
		t.Fatalf("camnode privacy %s: %v\n%s", mode, err, out)
	}
}

// url is the stream URL with optional user:password@.
func (n *node) url(scheme, userinfo string) string {
	return scheme + "://" + userinfo + n.addr + Path
}

// clientTLS is a Go client's TLS configuration for the node (site CA,
// client certificate cn if not "").
func (n *node) clientTLS(cn string) *tls.Config {
	ts := &testServer{pki: n.pki}
	return ts.clientTLS(n.t, cn)
}

// pid is the node process's id.
func (n *node) pid() int { return n.cmd.Process.Pid }

// frameStamps reads the stamps of raw gray frames (w x h, one byte per
// pixel) in data; frames without a readable stamp are counted.
func frameStamps(data []byte, w, h int) (stamps []uint32, times []time.Time, unreadable int) {
	for off := 0; off+w*h <= len(data); off += w * h {
		c, at, ok := capture.ReadStamp(data[off:off+w*h], w, w, h)
		if !ok {
			unreadable++
			continue
		}
		stamps = append(stamps, c)
		times = append(times, at)
	}
	return
}

// lumaPlanes keeps the luma plane of each raw I420 frame (w x h) in data:
// the levels as encoded (a conversion to gray would stretch the
// limited-range luma).
func lumaPlanes(data []byte, w, h int) []byte {
	var out []byte
	for off := 0; off+w*h*3/2 <= len(data); off += w * h * 3 / 2 {
		out = append(out, data[off:off+w*h]...)
	}
	return out
}

// decodeGray decodes a media file with ffmpeg to raw luma frames.
func decodeGray(t *testing.T, file string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	// Every decoded frame once: no frame-rate conversion (the rawvideo
	// muxer would otherwise duplicate frames to keep a constant rate).
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", file, "-fps_mode", "passthrough",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("decoding %s: %v\n%s", file, err, errb.String())
	}
	if s := strings.TrimSpace(errb.String()); s != "" {
		t.Logf("decoding %s: %s", filepath.Base(file), s)
	}
	return lumaPlanes(out.Bytes(), nodeW, nodeH)
}
