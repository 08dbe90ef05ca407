// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/recorder"
	"github.com/camnode/camnode/agent/recorder/push"
	"github.com/camnode/camnode/firmware"
)

// checkRecorderStream checks what [recorder] needs from files, with the
// loaders the node itself uses (so a PASS means `camnode run` can read
// them): the RTSPS server's certificate, key and client CA ("recorder"),
// and the push's hub CA, client certificate and Digest password file
// ("push"). Nothing is listened on or connected to. No result when
// neither is configured.
func checkRecorderStream(c config.Recorder, now time.Time) []checkResult {
	var out []checkResult
	if c.Serves() {
		out = append(out, checkRecorderServer(c, now))
	}
	if c.Pushes() {
		out = append(out, checkPush(c, now))
	}
	return out
}

func checkRecorderServer(c config.Recorder, now time.Time) checkResult {
	res := func(status, format string, a ...any) checkResult {
		return checkResult{"recorder", status, fmt.Sprintf(format, a...)}
	}
	names := make([]string, len(c.Recorders))
	for i, r := range c.Recorders {
		names[i] = r.Name
	}
	who := fmt.Sprintf("%d named recorder(s): %s", len(names), strings.Join(names, ", "))
	if c.InsecurePlain {
		return res(checkWarn, "rtsp://%s%s is PLAIN RTSP on loopback (insecure_plain = true): never for a real deployment; %s",
			c.Listen, recorder.Path, who)
	}
	tc, err := recorder.TLSConfig(c.CertFile, c.KeyFile, c.ClientCAFile)
	if err != nil {
		return res(checkFail, "rtsps://%s%s: %v (cert_file %s, key_file %s, client_ca_file %q)",
			c.Listen, recorder.Path, err, c.CertFile, c.KeyFile, c.ClientCAFile)
	}
	cert, msg := certValidity(tc.Certificates[0], now)
	if msg != "" {
		return res(checkFail, "rtsps://%s%s: server certificate %s: %s", c.Listen, recorder.Path, c.CertFile, msg)
	}
	ca := "no client CA (Digest recorders only)"
	if c.ClientCAFile != "" {
		ca = "client CA " + c.ClientCAFile + " readable"
	}
	return res(checkPass, "rtsps://%s%s: certificate %q (valid until %s) and key readable, %s; %s",
		c.Listen, recorder.Path, cert.Subject.CommonName, cert.NotAfter.Format(time.DateOnly), ca, who)
}

func checkPush(c config.Recorder, now time.Time) checkResult {
	res := func(status, format string, a ...any) checkResult {
		return checkResult{"push", status, fmt.Sprintf(format, a...)}
	}
	// push.New reads every file the publisher will use (CA, client
	// certificate, password file with its mode) and connects to nothing.
	pub, err := push.New(pushConfig(c, nil, nil, slog.New(slog.DiscardHandler)))
	if err != nil {
		return res(checkFail, "%s: %v", c.Push, err)
	}
	target := pub.Target()
	pub.Close()
	if c.PushInsecurePlain {
		return res(checkWarn, "%s is PLAIN RTSP to loopback (push_insecure_plain = true): never for a real deployment", target)
	}
	var have []string
	have = append(have, "hub CA "+c.PushCAFile)
	if c.PushCertFile != "" {
		tc, err := firmware.LoadX509KeyPair(c.PushCertFile, c.PushKeyFile)
		if err != nil {
			return res(checkFail, "%s: client certificate: %v", target, err)
		}
		cert, msg := certValidity(tc, now)
		if msg != "" {
			return res(checkFail, "%s: client certificate %s: %s", target, c.PushCertFile, msg)
		}
		have = append(have, fmt.Sprintf("client certificate %q (valid until %s)", cert.Subject.CommonName, cert.NotAfter.Format(time.DateOnly)))
	}
	if c.PushUser != "" {
		have = append(have, fmt.Sprintf("Digest user %q with password file %s", c.PushUser, c.PushPasswordFile))
	}
	return res(checkPass, "%s: %s readable (not connected: the node publishes while the camera streams)", target, strings.Join(have, ", "))
}

// certValidity parses a key pair's leaf certificate and says what is
// wrong with its validity period now ("" when valid).
func certValidity(tc tls.Certificate, now time.Time) (*x509.Certificate, string) {
	cert, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		return nil, err.Error()
	}
	switch {
	case now.After(cert.NotAfter):
		return cert, fmt.Sprintf("expired on %s", cert.NotAfter.Format(time.DateTime))
	case now.Before(cert.NotBefore):
		return cert, fmt.Sprintf("not valid before %s (is the clock right?)", cert.NotBefore.Format(time.DateTime))
	}
	return cert, ""
}
