// SPDX-License-Identifier: Apache-2.0

//go:build integration && linux && cgo

package recorder

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/internal/waittest"
	"github.com/camnode/camnode/agent/mqtt/mqtttest"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// Real consumers of the recorder stream against a real `camnode run`:
// ffmpeg/ffprobe and GStreamer's rtspsrc (scripts/install-test-deps-recorder).
//
// Debian's ffmpeg (5.1) cannot present a client certificate for rtsps://
// (its RTSP demuxer passes no TLS options to the tls protocol), so the
// certificate cases run ffmpeg through tlsForwarder, a TLS client that
// presents the certificate, as stunnel does for such recorders
// (docs/recording.md).

// tlsForwarder accepts plain TCP on loopback and forwards each
// connection over TLS to addr with the client configuration tc. TLS
// errors (a handshake refused; with TLS 1.3 the server's verdict on the
// client certificate arrives at the first read) go to errs.
type tlsForwarder struct {
	ln   net.Listener
	errs chan error
}

func startForwarder(t *testing.T, addr string, tc *tls.Config) *tlsForwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &tlsForwarder{ln: ln, errs: make(chan error, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := tls.Dial("tcp", addr, tc)
				if err == nil {
					err = up.Handshake()
				}
				if err != nil {
					select {
					case f.errs <- err:
					default:
					}
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.CloseWrite() }()
				if _, err := io.Copy(c, up); err != nil {
					select {
					case f.errs <- err:
					default:
					}
				}
			}()
		}
	}()
	return f
}

func (f *tlsForwarder) url() string { return "rtsp://" + f.ln.Addr().String() + Path }

// ffmpegRecord runs ffmpeg as a recorder: pull url over TCP, copy the
// stream into 2 s segments (prefix in dir), for at most dur of stream.
// It returns ffmpeg's error and stderr.
func ffmpegRecord(ctx context.Context, url, dir, prefix string, dur time.Duration) (error, string) {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "warning", "-rtsp_transport", "tcp", "-i", url,
		"-c", "copy", "-f", "segment", "-segment_time", "2", "-segment_format", "mpegts", "-reset_timestamps", "1"}
	if dur > 0 {
		args = append(args, "-t", fmt.Sprint(dur.Seconds()))
	}
	args = append(args, filepath.Join(dir, prefix+"%03d.ts"))
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) } // ffmpeg finishes the segment
	cmd.WaitDelay = 30 * time.Second
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	return err, errb.String()
}

// segments returns the segment files of prefix in dir, in order.
func segments(t *testing.T, dir, prefix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, prefix+"*.ts"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// keyFirst reports whether the first video frame of file is a keyframe
// (ffprobe).
func keyFirst(t *testing.T, file string) bool {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#1",
		"-show_entries", "frame=key_frame", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	return strings.HasPrefix(strings.TrimSpace(string(out)), "1")
}

// checkSegments decodes every segment and checks: at least two, each
// starting with a keyframe, stamps readable and strictly increasing across
// all of them (gaps allowed: the pipeline may drop frames under load).
func checkSegments(t *testing.T, segs []string) (stamps []uint32, times []time.Time) {
	t.Helper()
	if len(segs) < 2 {
		t.Fatalf("%d segments, want at least 2: %v", len(segs), segs)
	}
	for _, s := range segs {
		if !keyFirst(t, s) {
			t.Errorf("%s does not start with a keyframe", filepath.Base(s))
		}
		st, tm, bad := frameStamps(decodeGray(t, s), nodeW, nodeH)
		if bad > 0 || len(st) == 0 {
			t.Errorf("%s: %d frames with a stamp, %d without", filepath.Base(s), len(st), bad)
		}
		stamps, times = append(stamps, st...), append(times, tm...)
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i] <= stamps[i-1] {
			t.Fatalf("frame %d: stamp %d after %d: not in capture order", i, stamps[i], stamps[i-1])
		}
	}
	return stamps, times
}

// TestFFmpegRecordsSegments: ffmpeg records the node into 2 s segments,
// with Digest credentials and with the pinned client certificate; every
// segment starts with a keyframe and decodes to the stamped frames in
// capture order.
func TestFFmpegRecordsSegments(t *testing.T) {
	n := startNode(t, nil)
	fw := startForwarder(t, n.addr, n.clientTLS("nvr-cert"))
	for _, tc := range []struct{ name, url string }{
		{"digest", n.url("rtsps", "vms:"+vmsPassword+"@")},
		{"client certificate", fw.url()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a deadline to fail, not a timing assertion
			defer cancel()
			if err, stderr := ffmpegRecord(ctx, tc.url, dir, "seg", 7*time.Second); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, stderr)
			}
			stamps, _ := checkSegments(t, segments(t, dir, "seg"))
			t.Logf("%d frames, stamps %d..%d", len(stamps), stamps[0], stamps[len(stamps)-1])
		})
	}
}

// TestRecorderRefusals: wrong password, a client certificate of another
// CA, a site certificate whose name is not pinned, and plain RTSP to the
// RTSPS port are all refused, with ffmpeg as the client.
func TestRecorderRefusals(t *testing.T) {
	n := startNode(t, nil)
	other := mqtttest.NewPKI(t)
	otherCert, otherKey := other.Issue(t, "nvr-cert", false)
	kp, err := tls.LoadX509KeyPair(otherCert, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA := n.clientTLS("")
	wrongCA.Certificates = []tls.Certificate{kp}
	fwWrongCA := startForwarder(t, n.addr, wrongCA)
	fwUnpinned := startForwarder(t, n.addr, n.clientTLS("laptop"))
	for _, tc := range []struct{ name, url, want string }{
		{"wrong password", n.url("rtsps", "vms:guess@"), "401"},
		{"unknown recorder", n.url("rtsps", "mallory:"+vmsPassword+"@"), "401"},
		{"no credentials", n.url("rtsps", ""), "401"},
		{"certificate of another CA", fwWrongCA.url(), ""},
		{"site certificate, name not pinned", fwUnpinned.url(), "403"},
		{"plain RTSP to the RTSPS port", n.url("rtsp", "vms:"+vmsPassword+"@"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-rtsp_transport", "tcp",
				"-i", tc.url, "-frames:v", "1", "-f", "null", "-").CombinedOutput()
			if err == nil {
				t.Fatalf("ffmpeg played:\n%s", out)
			}
			if tc.want != "" && !strings.Contains(string(out), tc.want) {
				t.Fatalf("ffmpeg failed without %q:\n%s", tc.want, out)
			}
			t.Logf("refused: %s", lastLine(string(out)))
		})
	}
	select {
	case err := <-fwWrongCA.errs:
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("another CA: TLS error %v, want the certificate refused", err)
		}
		t.Logf("another CA: refused by TLS: %v", err)
	default:
		t.Error("the certificate of another CA was not refused by TLS")
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// TestPrivacyGapAndReconnect: a recorder (ffmpeg, restarted whenever it
// exits, as Frigate and similar recorders do) records across a privacy
// window. The cut ends its session; while private its attempts get 503
// "privacy is on"; after privacy off it records again by itself. No
// recorded frame was captured inside the window: a gap, by design.
func TestPrivacyGapAndReconnect(t *testing.T) {
	n := startNode(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var logs []string
	runs := 0
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for run := 0; ctx.Err() == nil; run++ {
			err, stderr := ffmpegRecord(ctx, n.url("rtsps", "vms:"+vmsPassword+"@"), dir, fmt.Sprintf("run%03d-", run), 0)
			mu.Lock()
			logs = append(logs, fmt.Sprintf("run %d: %v: %s", run, err, strings.TrimSpace(stderr)))
			runs = run + 1
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond): // the recorder's retry back-off
			}
		}
	}()
	logged := func(substr string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logs {
			if strings.Contains(l, substr) {
				return true
			}
		}
		return false
	}
	recorded := func(from int) bool { // a later run wrote a segment with data
		m, _ := filepath.Glob(filepath.Join(dir, "run*.ts"))
		for _, f := range m {
			var r int
			fmt.Sscanf(filepath.Base(f), "run%03d-", &r)
			if st, err := os.Stat(f); r >= from && err == nil && st.Size() > 64<<10 {
				return true
			}
		}
		return false
	}
	waitUntil(t, "the first recording", func() bool { return recorded(0) })

	n.privacy("on")
	ack := time.Now()
	mu.Lock()
	private := runs
	mu.Unlock()
	waitUntil(t, "a recorder attempt refused while private", func() bool { return logged("privacy is on") })
	mu.Lock()
	next := runs
	mu.Unlock()
	off := time.Now()
	n.privacy("off")
	waitUntil(t, "a recording after privacy off", func() bool { return recorded(next) })
	cancel()
	<-loopDone
	mu.Lock()
	t.Logf("%d ffmpeg runs (privacy on during run %d):\n%s", runs, private, strings.Join(logs, "\n"))
	mu.Unlock()

	var before, after int
	var segs []string
	for run := range runs {
		segs = append(segs, segments(t, dir, fmt.Sprintf("run%03d-", run))...)
	}
	for _, s := range segs {
		if st, err := os.Stat(s); err != nil || st.Size() == 0 {
			continue
		}
		_, times, _ := frameStamps(decodeGray(t, s), nodeW, nodeH)
		for _, at := range times {
			switch {
			case !at.After(ack) && at.Before(off):
				before++
			case at.After(off):
				after++
			default:
				t.Errorf("%s: frame captured at %v, inside the privacy window [%v, %v]", filepath.Base(s),
					at.Format(time.StampMicro), ack.Format(time.StampMicro), off.Format(time.StampMicro))
			}
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("%d frames before the window, %d after: want both", before, after)
	}
	t.Logf("%d frames before privacy on, %d after privacy off, none inside", before, after)
}

// waitUntil polls ok until it holds, failing after a generous deadline.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	waittest.Until(t, 2*time.Minute, what, ok)
}

// TestGStreamerSecondClient: GStreamer's rtspsrc (Digest, TCP) pulls the
// stream while ffmpeg records it: two independent clients of one encode,
// both with stamped frames in order.
func TestGStreamerSecondClient(t *testing.T) {
	n := startNode(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ffDone := make(chan string, 1)
	go func() {
		err, stderr := ffmpegRecord(ctx, n.url("rtsps", "vms:"+vmsPassword+"@"), dir, "ff", 0)
		ffDone <- fmt.Sprintf("%v: %s", err, stderr)
	}()
	raw := filepath.Join(dir, "gst.gray")
	gst := exec.CommandContext(ctx, "gst-launch-1.0", "-q",
		"rtspsrc", "location="+n.url("rtsps", ""), "protocols=tcp", "user-id=vms", "user-pw="+vmsPassword,
		"tls-validation-flags=0", // the test CA is not in GStreamer's store; the handshake is still TLS
		"!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "videoconvert", "!",
		fmt.Sprintf("video/x-raw,format=I420,width=%d,height=%d", nodeW, nodeH), "!", "filesink", "location="+raw)
	var gerr bytes.Buffer
	gst.Stdout, gst.Stderr = &gerr, &gerr
	if err := gst.Start(); err != nil {
		t.Fatal(err)
	}
	gstDone := make(chan struct{})
	go func() { _ = gst.Wait(); close(gstDone) }()
	defer func() { _ = gst.Process.Kill(); <-gstDone }()
	waitUntil(t, "30 frames from GStreamer", func() bool {
		select {
		case <-gstDone:
			t.Fatalf("gst-launch exited:\n%s", gerr.String())
		default:
		}
		st, err := os.Stat(raw)
		return err == nil && st.Size() >= 30*nodeW*nodeH*3/2
	})
	waitUntil(t, "two ffmpeg segments", func() bool { return len(segments(t, dir, "ff")) >= 3 })
	_ = gst.Process.Kill()
	<-gstDone
	cancel()
	t.Logf("ffmpeg: %s", <-ffDone)

	data, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	st, _, bad := frameStamps(lumaPlanes(data, nodeW, nodeH), nodeW, nodeH)
	if len(st) < 30 || bad > 0 {
		t.Fatalf("GStreamer: %d stamped frames, %d unreadable", len(st), bad)
	}
	if !slices.IsSorted(st) {
		t.Fatalf("GStreamer frames out of order: %v", st)
	}
	segs := segments(t, dir, "ff")
	ff, _ := checkSegments(t, segs[:len(segs)-1]) // the last one was cut by the stop
	t.Logf("GStreamer %d frames (%d..%d), ffmpeg %d frames (%d..%d)", len(st), st[0], st[len(st)-1], len(ff), ff[0], ff[len(ff)-1])
}

// TestMaskThroughRecorder (issue 13 item 3, recorder part): with a signed
// identity carrying a mask, the frames a recorder (ffmpeg) decodes show
// the fill colour across the whole mask (bar a block-edge margin at its
// border) and the stamp intact outside it. The synthetic source paints
// colour bars and a moving box there.
func TestMaskThroughRecorder(t *testing.T) {
	mask := []float64{0.5, 0.45, 0.95, 0.95} // right-bottom, clear of the stamp band
	n := startNode(t, []firmware.Mask{{Rect: mask}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
		"-i", n.url("rtsps", "vms:"+vmsPassword+"@"), "-frames:v", "30", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, errb.String())
	}
	data := lumaPlanes(out.Bytes(), nodeW, nodeH)
	const margin = 8 // encoder block edges at the mask's border
	x0, y0 := int(mask[0]*nodeW)+margin, int(mask[1]*nodeH)+margin
	x1, y1 := int(mask[2]*nodeW)-margin, int(mask[3]*nodeH)-margin
	frames := 0
	for off := 0; off+nodeW*nodeH <= len(data); off += nodeW * nodeH {
		y := data[off : off+nodeW*nodeH]
		if _, _, ok := capture.ReadStamp(y, nodeW, nodeW, nodeH); !ok {
			t.Errorf("frame %d: stamp unreadable outside the mask", frames)
		}
		worst := 0
		for r := y0; r < y1; r++ {
			for c := x0; c < x1; c++ {
				worst = max(worst, abs(int(y[r*nodeW+c])-capture.MaskFillY))
			}
		}
		if worst > 12 {
			t.Errorf("frame %d: luma inside the mask differs from the fill (%d) by up to %d", frames, capture.MaskFillY, worst)
		}
		frames++
	}
	if frames < 30 {
		t.Fatalf("%d frames decoded, want 30", frames)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
