// SPDX-License-Identifier: Apache-2.0

//go:build integration && linux && cgo

package liveview

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/firmware"
)

// camnodeProc is a `camnode run` child process: synthetic 640x480@30 I420
// camera, simulated GPIO, [liveview] on loopback.
type camnodeProc struct {
	cmd    *exec.Cmd
	url    string
	hub    ed25519.PrivateKey
	stderr bytes.Buffer
}

// camnodeBinary builds cmd/camnode once per benchmark (or uses
// $CAMNODE_BIN).
func camnodeBinary(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("CAMNODE_BIN"); p != "" {
		return p
	}
	out := filepath.Join(b.TempDir(), "camnode")
	cmd := exec.Command("go", "build", "-o", out, "github.com/camnode/camnode/cmd/camnode")
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Run(); err != nil {
		b.Fatalf("go build ./cmd/camnode: %v\n%s", err, errb.String())
	}
	return out
}

func freePort(b *testing.B, network string) int {
	b.Helper()
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	default:
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
}

func writePEM(b *testing.B, path, typ string, der []byte, mode os.FileMode) {
	b.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		b.Fatal(err)
	}
}

// startCamnode provisions a node in a temporary directory (signed identity
// with a hub key, pinned installer key, self-signed certificate) and runs
// `camnode run` on it until the live view reports live.
func startCamnode(b *testing.B, bin string) *camnodeProc {
	b.Helper()
	dir := b.TempDir()
	instPub, instPriv, _ := ed25519.GenerateKey(rand.Reader)
	hubPub, hubPriv, _ := ed25519.GenerateKey(rand.Reader)
	signed, err := firmware.SignIdentity(firmware.Identity{NodeID: testNode, Site: "Bench", Room: "Front desk",
		ZoneClass: "reception", InitialPrivacy: "off", Installer: "bench", IssuedAt: time.Now().UTC(),
		HubKey: base64.StdEncoding.EncodeToString(hubPub)}, instPriv)
	if err != nil {
		b.Fatal(err)
	}
	idFile, keysFile := filepath.Join(dir, "identity.json"), filepath.Join(dir, "installer-keys.pub")
	if err := os.WriteFile(idFile, signed, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(keysFile, []byte(firmware.FormatKey(instPub, "bench installer")), 0o644); err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "lv.crt"), filepath.Join(dir, "lv.key")
	writePEM(b, certFile, "CERTIFICATE", der, 0o644)
	writePEM(b, keyFile, "PRIVATE KEY", kder, 0o600)

	httpsPort, udpPort := freePort(b, "tcp"), freePort(b, "udp")
	conf := fmt.Sprintf(`
[node]
identity_file = %q
installer_keys_file = %q
state_dir = %q
control_socket = %q
[camera]
source = "synthetic"
width = 640
height = 480
fps = 30
formats = ["I420"]
[gpio]
simulate = true
[log]
level = "warn"
[liveview]
listen = "127.0.0.1:%d"
udp_port = %d
cert_file = %q
key_file = %q
interfaces = ["lo"]
max_viewers = 8
`, idFile, keysFile, filepath.Join(dir, "state"), filepath.Join(dir, "control.sock"), httpsPort, udpPort, certFile, keyFile)
	confFile := filepath.Join(dir, "camnode.toml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}

	p := &camnodeProc{hub: hubPriv, url: fmt.Sprintf("https://127.0.0.1:%d/", httpsPort)}
	p.cmd = exec.Command(bin, "run", "-config", confFile)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
		}
	})
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // test certificate
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			b.Fatalf("camnode run exited:\n%s", p.stderr.String())
		default:
		}
		if resp, err := c.Get(p.url + "state"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"live":true`) {
				return p
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("live view not live after 30 s:\n%s", p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rssKBOf returns VmRSS of pid in kB.
func rssKBOf(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(l, "VmRSS: %d kB", &kb); err == nil {
			return kb
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// steadyRSS waits settle, then returns the median of VmRSS samples taken
// every 100 ms for 2 s.
func steadyRSS(b *testing.B, pid int, settle time.Duration) int64 {
	b.Helper()
	time.Sleep(settle)
	var v []int64
	for range 20 {
		v = append(v, rssKBOf(b, pid))
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkRSS measures the resident memory of a separate `camnode run`
// process (synthetic 640x480@30 I420 camera, x264, [liveview] on loopback)
// idle (live view enabled, camera streaming, nobody watching) and with 1, 4
// and 8 pion viewers, which run in the benchmark process so their memory
// is not counted. Each iteration starts a fresh node; run it with
// -benchtime 1x -count 3 and take medians:
//
//	go test -tags integration ./agent/liveview/ -run '^$' -bench RSS -benchtime 1x -count 3
func BenchmarkRSS(b *testing.B) {
	bin := camnodeBinary(b)
	for range b.N {
		p := startCamnode(b, bin)
		pid := p.cmd.Process.Pid
		idle := steadyRSS(b, pid, 3*time.Second)
		b.ReportMetric(float64(idle), "idle-kB")
		var rs []*receiver
		rss := map[int]int64{}
		for _, nv := range []int{1, 4, 8} {
			for len(rs) < nv {
				r := newReceiver(b, false)
				tok, err := token.Mint(p.hub, testNode, fmt.Sprintf("viewer-%d", len(rs)), "staff", "rss benchmark", time.Now(), 10*time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				code, ans := whepPost(b, p.url, tok, r.offer(b))
				if code != http.StatusCreated {
					b.Fatalf("viewer %d: %d %s", len(rs)+1, code, ans)
				}
				r.answer(b, ans)
				waitFor(b, r.connect, 10*time.Second, "viewer connected")
				waitFor(b, r.pkts, 10*time.Second, "first packet")
				ctx, cancel := context.WithCancel(context.Background())
				b.Cleanup(cancel)
				go func() {
					for {
						select {
						case <-r.pkts:
						case <-ctx.Done():
							return
						}
					}
				}()
				rs = append(rs, r)
			}
			rss[nv] = steadyRSS(b, pid, 3*time.Second)
			b.ReportMetric(float64(rss[nv]), fmt.Sprintf("%dv-kB", nv))
		}
		b.ReportMetric(float64(rss[1]-idle), "first-viewer-kB")
		b.ReportMetric(float64(rss[8]-rss[1])/7, "per-extra-viewer-kB")
		for _, r := range rs {
			_ = r.pc.Close()
		}
	}
}
