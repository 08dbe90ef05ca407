// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// unit is a parsed systemd unit file: section -> key -> values in order
// (keys such as DeviceAllow= may repeat; an empty assignment resets).
type unit map[string]map[string][]string

// parseUnit is a simple INI parser for systemd units: sections, key=value,
// comments (# and ;) and blank lines. Line continuations are refused, so
// the file stays simple to audit.
func parseUnit(data []byte) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", line[0] == '#', line[0] == ';':
			continue
		case strings.HasSuffix(line, "\\"):
			return nil, fmt.Errorf("line %d: continuation lines are not allowed", n)
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: want key=value inside a section: %q", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" {
			u[section][k] = []string{""} // explicit empty / reset
			continue
		}
		u[section][k] = append(u[section][k], v)
	}
	return u, sc.Err()
}

// hardeningProblems lists every way svc falls short of what issue #6 asks
// of camnode.service.
func hardeningProblems(u unit) []string {
	var p []string
	svc := u["Service"]
	if svc == nil {
		return []string{"no [Service] section"}
	}
	one := func(k string) (string, bool) {
		v, ok := svc[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[len(v)-1], true
	}
	want := func(k string, vals ...string) {
		v, ok := one(k)
		if !ok {
			p = append(p, k+": missing")
		} else if !slices.Contains(vals, v) {
			p = append(p, fmt.Sprintf("%s=%s, want %s", k, v, strings.Join(vals, " or ")))
		}
	}
	yes := []string{"yes", "true", "on", "1"}
	want("Type", "notify")
	want("User", "camnode")
	want("ProtectSystem", "strict")
	want("ProtectHome", yes...)
	want("NoNewPrivileges", yes...)
	want("PrivateTmp", yes...)
	want("PrivateNetwork", "no", "false", "off", "0")
	want("DevicePolicy", "closed")
	want("CapabilityBoundingSet", "")
	want("SystemCallFilter", "@system-service")
	want("RuntimeDirectory", "camnode")
	want("StateDirectory", "camnode")
	want("Restart", "on-failure")
	if v, _ := one("AmbientCapabilities"); v != "" {
		p = append(p, "AmbientCapabilities must be empty, is "+v)
	}
	if v, ok := one("RestrictAddressFamilies"); !ok || !sameFields(v, "AF_UNIX AF_INET AF_INET6") {
		p = append(p, fmt.Sprintf("RestrictAddressFamilies=%q, want AF_UNIX AF_INET AF_INET6", v))
	}
	if v, ok := one("ReadWritePaths"); !ok || !sameFields(v, "/var/lib/camnode /run/camnode") {
		p = append(p, fmt.Sprintf("ReadWritePaths=%q, want /var/lib/camnode /run/camnode", v))
	}
	for _, k := range []string{"WatchdogSec", "RestartSec"} {
		v, _ := one(k)
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			p = append(p, fmt.Sprintf("%s=%q: want a positive duration like 10s", k, v))
		}
	}
	if v, _ := one("ExecStopPost"); !strings.Contains(v, "camnode halt-outputs -config ") {
		p = append(p, fmt.Sprintf("ExecStopPost=%q must run camnode halt-outputs -config", v))
	}
	// The boot copy of the audit key is removed by a root step
	// (docs/audit.md, "The audit key").
	for _, k := range []string{"ExecStartPre", "ExecStartPost"} {
		if !slices.ContainsFunc(svc[k], func(v string) bool {
			return strings.HasPrefix(v, "-+/usr/bin/camnode audit-key-cleanup -config ")
		}) {
			p = append(p, k+": must run -+/usr/bin/camnode audit-key-cleanup -config (removes the boot copy of the audit key)")
		}
	}
	// Only the audit key cleanup runs privileged ("+" or "!" prefix).
	for _, k := range []string{"ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "ExecCondition"} {
		for _, v := range svc[k] {
			cmd := strings.TrimLeft(v, "-@:+!|")
			if strings.ContainsAny(v[:len(v)-len(cmd)], "+!") && !strings.HasPrefix(cmd, "/usr/bin/camnode audit-key-cleanup -config ") {
				p = append(p, fmt.Sprintf("%s=%s runs privileged: only camnode audit-key-cleanup may", k, v))
			}
		}
	}
	if v, _ := one("ProcSubset"); v == "pid" {
		p = append(p, "ProcSubset=pid hides /proc/asound from the audio guard")
	}
	for _, g := range strings.Fields(strings.Join(svc["SupplementaryGroups"], " ")) {
		if g == "audio" {
			p = append(p, "SupplementaryGroups names audio")
		}
	}
	allow := svc["DeviceAllow"]
	if len(allow) == 0 {
		p = append(p, "DeviceAllow: missing (the camera and GPIO need it)")
	}
	for _, a := range allow {
		dev := strings.Fields(a + " ")[0]
		low := strings.ToLower(a)
		switch {
		case strings.Contains(low, "snd") || strings.Contains(low, "sound") || strings.Contains(low, "alsa"):
			p = append(p, "DeviceAllow names a sound device: "+a)
		case dev == "char-video4linux", dev == "char-gpiochip",
			strings.HasPrefix(dev, "/dev/video"), strings.HasPrefix(dev, "/dev/gpiochip"):
		default:
			p = append(p, "DeviceAllow beyond /dev/video* and /dev/gpiochip*: "+a)
		}
	}
	return p
}

func sameFields(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	slices.Sort(fa)
	slices.Sort(fb)
	return slices.Equal(fa, fb)
}

func readUnit(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("systemd/camnode.service")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSystemdUnitHardening(t *testing.T) {
	u, err := parseUnit(readUnit(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range hardeningProblems(u) {
		t.Error(p)
	}
	start, stop := u["Service"]["ExecStart"], u["Service"]["ExecStopPost"]
	if len(start) != 1 || len(stop) != 1 {
		t.Fatalf("want one ExecStart and one ExecStopPost, got %q %q", start, stop)
	}
	// Both read the configuration that provisioning writes.
	cfg := " -config /boot/firmware/camnode/camnode.toml"
	if !strings.HasSuffix(start[0], cfg) || !strings.HasSuffix(stop[0], cfg) {
		t.Errorf("ExecStart %q and ExecStopPost %q must both end in %q", start[0], stop[0], cfg)
	}
}

// TestHardeningProblemsCatchesRegressions feeds weakened units to the
// checker: each must be caught, naming the key.
func TestHardeningProblemsCatchesRegressions(t *testing.T) {
	base := string(readUnit(t))
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"snd device allowed", "DeviceAllow=char-gpiochip rw", "DeviceAllow=char-gpiochip rw\nDeviceAllow=/dev/snd/pcmC0D0c r", "sound device"},
		{"alsa class allowed", "DeviceAllow=char-gpiochip rw", "DeviceAllow=char-alsa rw", "sound device"},
		{"raw memory allowed", "DeviceAllow=char-gpiochip rw", "DeviceAllow=char-gpiochip rw\nDeviceAllow=/dev/mem rw", "DeviceAllow beyond"},
		{"device policy auto", "DevicePolicy=closed", "DevicePolicy=auto", "DevicePolicy"},
		{"no device policy", "DevicePolicy=closed\n", "", "DevicePolicy: missing"},
		{"capabilities granted", "CapabilityBoundingSet=\n", "CapabilityBoundingSet=CAP_SYS_RAWIO\n", "CapabilityBoundingSet"},
		{"ambient capability", "AmbientCapabilities=\n", "AmbientCapabilities=CAP_NET_RAW\n", "AmbientCapabilities"},
		{"protect system full", "ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem"},
		{"new privileges", "NoNewPrivileges=yes", "NoNewPrivileges=no", "NoNewPrivileges"},
		{"private network", "PrivateNetwork=no", "PrivateNetwork=yes", "PrivateNetwork"},
		{"netlink allowed", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK", "RestrictAddressFamilies"},
		{"simple service", "Type=notify", "Type=simple", "Type"},
		{"no watchdog", "WatchdogSec=10s\n", "", "WatchdogSec"},
		{"no halt", "ExecStopPost=", "#ExecStopPost=", "ExecStopPost"},
		{"no key cleanup", "ExecStartPost=-+/usr/bin/camnode audit-key-cleanup", "#ExecStartPost=-+/usr/bin/camnode audit-key-cleanup", "audit-key-cleanup"},
		{"privileged start", "ExecStart=/usr/bin/camnode run", "ExecStart=+/usr/bin/camnode run", "runs privileged"},
		{"privileged other pre", "ExecStartPre=-+/usr/bin/camnode audit-key-cleanup", "ExecStartPre=-+/bin/sh -c true\nExecStartPre=-+/usr/bin/camnode audit-key-cleanup", "runs privileged"},
		{"audio group", "SupplementaryGroups=video gpio", "SupplementaryGroups=video gpio audio", "audio"},
		{"root", "User=camnode", "User=root", "User"},
		{"proc subset", "# No ProcSubset=pid", "ProcSubset=pid\n#", "ProcSubset"},
		{"wider write paths", "ReadWritePaths=/var/lib/camnode /run/camnode", "ReadWritePaths=/var/lib/camnode /run/camnode /etc", "ReadWritePaths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("unit no longer contains %q; update the case", tc.old)
			}
			u, err := parseUnit([]byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			probs := strings.Join(hardeningProblems(u), "\n")
			if !strings.Contains(probs, tc.want) {
				t.Fatalf("weakened unit not caught; problems:\n%s\nwant one containing %q", probs, tc.want)
			}
		})
	}
}

func TestParseUnitRejectsOddSyntax(t *testing.T) {
	for _, in := range []string{"Type=notify\n", "[Service\nType=notify\n", "[Service]\nExecStart=/bin/a \\\n  -x\n", "[Service]\njunk\n"} {
		if _, err := parseUnit([]byte(in)); err == nil {
			t.Errorf("parseUnit(%q) succeeded", in)
		}
	}
}

// TestModprobeBlacklist: every blacklisted module also has an
// "install X /bin/false" line, and the drivers named in issue #6 are there.
func TestModprobeBlacklist(t *testing.T) {
	b, err := os.ReadFile("modprobe.d/camnode-no-audio.conf")
	if err != nil {
		t.Fatal(err)
	}
	black, install := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "blacklist" && len(f) == 2:
			black[f[1]] = true
		case f[0] == "install" && len(f) == 3 && f[2] == "/bin/false":
			install[f[1]] = true
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	for m := range black {
		if !install[m] {
			t.Errorf("%s is blacklisted but has no install %s /bin/false", m, m)
		}
	}
	for _, m := range []string{"snd_bcm2835", "snd_usb_audio", "snd_soc_core", "snd_soc_hdmi_codec", "snd"} {
		if !black[m] || !install[m] {
			t.Errorf("%s is not both blacklisted and install-disabled", m)
		}
	}
}

func TestBootFragment(t *testing.T) {
	b, err := os.ReadFile("boot/config.txt.fragment")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"\ndtparam=audio=off\n", "\ncamera_auto_detect=1\n", ",noaudio\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("boot fragment lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(s, "\ndtparam=audio=on") {
		t.Error("boot fragment turns audio on")
	}
}
