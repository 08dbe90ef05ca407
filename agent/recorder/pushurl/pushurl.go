// SPDX-License-Identifier: Apache-2.0

// Package pushurl parses the push URL of [recorder] push
// (docs/recording.md, "Push"). It has no dependencies beyond the standard
// library, so that agent/config validates the URL with the same code the
// publisher (agent/recorder/push) connects with.
package pushurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Default ports of the RTSP schemes (RFC 7826).
const (
	defaultPortRTSPS = "322"
	defaultPortRTSP  = "554"
	maxURLLen        = 1024
)

// Target is a parsed push URL.
type Target struct {
	Secure bool   // rtsps
	Host   string // host:port, port filled in
	Name   string // host name for TLS verification
	Path   string // "/..." with query, as sent in requests
}

// String is the URL without credentials (the audit and the logs show it).
func (t Target) String() string {
	s := "rtsp"
	if t.Secure {
		s = "rtsps"
	}
	return s + "://" + t.Host + t.Path
}

// Parse checks a push URL: rtsps://host[:port]/path, or
// rtsp://loopback[:port]/path when insecure is set. Credentials never go
// into the URL (they would end up in logs and the audit trail): Digest
// users are configured apart, passwords in a file.
func Parse(raw string, insecure bool) (Target, error) {
	var t Target
	if raw == "" {
		return t, errors.New("no push URL")
	}
	if len(raw) > maxURLLen {
		return t, fmt.Errorf("push URL longer than %d bytes", maxURLLen)
	}
	for _, r := range raw {
		if r < 0x21 || r == 0x7f || r > 0x7e {
			return t, fmt.Errorf("push URL %q: spaces, control or non-ASCII characters", raw)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return t, fmt.Errorf("push URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "rtsps":
		t.Secure = true
	case "rtsp":
	default:
		return t, fmt.Errorf("push URL %q: scheme must be rtsps:// (or rtsp:// on loopback with push_insecure_plain)", raw)
	}
	if u.Opaque != "" {
		return t, fmt.Errorf("push URL %q is not like rtsps://hub/path", raw)
	}
	if u.Host == "" {
		return t, fmt.Errorf("push URL %q names no host", raw)
	}
	if u.User != nil {
		return t, fmt.Errorf("push URL %q holds credentials: set push_user and push_password_file instead", u.Redacted())
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return t, fmt.Errorf("push URL %q: no #fragment allowed", raw)
	}
	hp := u.Host
	if strings.HasSuffix(hp, ":") {
		return t, fmt.Errorf("push URL %q: bad host:port", raw)
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil { // no port
		host, port = hp, ""
		if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
			host = hp[1 : len(hp)-1]
		}
	}
	if !validHost(host) {
		return t, fmt.Errorf("push URL %q: bad host %q (a DNS name or an IP address)", raw, host)
	}
	if port == "" {
		port = defaultPortRTSP
		if t.Secure {
			port = defaultPortRTSPS
		}
	}
	if err := checkPort(port); err != nil {
		return t, fmt.Errorf("push URL %q: %w", raw, err)
	}
	if !t.Secure {
		if !insecure {
			return t, fmt.Errorf("push URL %q is plaintext rtsp://: use rtsps://, or push_insecure_plain = true on loopback only", raw)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return t, fmt.Errorf("push URL %q: plaintext rtsp:// is allowed only to a loopback address (127.0.0.1, ::1)", raw)
		}
	}
	if u.Path == "" || u.Path == "/" {
		return t, fmt.Errorf("push URL %q names no path (like rtsps://hub:8322/node-1)", raw)
	}
	t.Host = net.JoinHostPort(host, port)
	t.Name = host
	t.Path = u.EscapedPath()
	if u.RawQuery != "" {
		t.Path += "?" + u.RawQuery
	}
	return t, nil
}

func checkPort(p string) error {
	if len(p) > 5 {
		return fmt.Errorf("port %q: want 1..65535", p)
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return fmt.Errorf("port %q: want 1..65535", p)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1..65535", p)
	}
	return nil
}

// validHost accepts an IP address or a DNS name (letters, digits, '-' and
// '.').
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
