// SPDX-License-Identifier: Apache-2.0

// Package mqtttest provides utilities for testing against a real MQTT
// broker, in the manner of net/http/httptest: a throwaway certificate
// authority (PKI) that writes PEM files, and a mosquitto process (Broker)
// configured as the hub's broker is in production: TLS 1.2, a client
// certificate required, the certificate's CN as the user name, and the
// shipped ACL (firmware/mosquitto/acl.template, HUB_CN replaced).
//
// A typical test:
//
//	p := mqtttest.NewPKI(t)
//	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{})
//	cert, key := p.Issue(t, "node-1", false)
//	// connect to b.URL with CA p.CAFile(), client certificate cert/key
//
// Everything lives in the test's temporary directories and is removed, and
// the broker stopped, when the test ends (testing.TB.Cleanup). A test can
// stop and restart the broker on the same port (Stop, Start), kill it
// (Kill) or hang it with its TCP connections open (Pause, Resume), and read
// what it logged (LogFile: every packet, including ACL denials such as
// "Denied PUBLISH", unless Options.LogTypes says otherwise).
//
// The broker is /usr/sbin/mosquitto (scripts/mosquitto-env installs it).
// When it is missing, StartMosquitto fails the test: a test that needs the
// broker never passes by skipping.
//
// The package does not import agent/mqtt, so that package's own tests can
// use it; the caller turns the PEM files into its client configuration.
package mqtttest
