// SPDX-License-Identifier: Apache-2.0

//go:build integration

package mqtttest_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent/mqtt/mqtttest"
)

// tlsConfig trusts p's CA and, unless cn is "", presents a client
// certificate with common name cn.
func tlsConfig(t *testing.T, p *mqtttest.PKI, cn string) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	conf := &tls.Config{RootCAs: roots}
	if cn != "" {
		pair, err := tls.LoadX509KeyPair(p.Issue(t, cn, false))
		if err != nil {
			t.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf
}

// connect makes an MQTT connection to b as cn.
func connect(t *testing.T, p *mqtttest.PKI, b *mqtttest.Broker, cn string) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(b.URL).SetClientID(cn).SetTLSConfig(tlsConfig(t, p, cn)).
		SetConnectTimeout(2 * time.Second).SetAutoReconnect(false)
	c := paho.NewClient(o)
	tk := c.Connect()
	if !tk.WaitTimeout(3 * time.Second) {
		return nil, os.ErrDeadlineExceeded
	}
	return c, tk.Error()
}

func mustConnect(t *testing.T, p *mqtttest.PKI, b *mqtttest.Broker, cn string) paho.Client {
	t.Helper()
	c, err := connect(t, p, b, cn)
	if err != nil {
		t.Fatalf("connect as %s: %v", cn, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestBroker: a client certificate from the PKI is required and accepted;
// the ACL is the shipped one with the hub's CN; a denial is logged; the
// broker restarts on the same URL after Stop and Kill; a paused broker
// answers nothing until resumed.
func TestBroker(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{Config: []string{"max_queued_messages 5000"}})
	if !strings.HasPrefix(b.URL, "ssl://127.0.0.1:") || !strings.HasSuffix(b.URL, b.Addr) {
		t.Fatalf("URL %q, Addr %q", b.URL, b.Addr)
	}
	conf, _ := os.ReadFile(b.ConfigFile)
	acl, _ := os.ReadFile(filepath.Join(filepath.Dir(b.ConfigFile), "acl"))
	if !strings.Contains(string(conf), "\nmax_queued_messages 5000\n") || !strings.Contains(string(conf), "\nlog_type all\n") {
		t.Errorf("mosquitto.conf:\n%s", conf)
	}
	if !strings.Contains(string(acl), "\nuser hub\n") || strings.Contains(string(acl), "HUB_CN") {
		t.Errorf("acl:\n%s", acl)
	}

	if _, err := connect(t, p, b, ""); err == nil {
		t.Fatal("connected without a client certificate")
	}
	node := mustConnect(t, p, b, "node-1")
	if tk := node.Publish("camnode/node-2/status", 1, false, "forged"); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatalf("publish: %v", tk.Error())
	}
	b.WaitLog(t, 5*time.Second, "Denied PUBLISH from node-1", "'camnode/node-2/status'")

	pid := b.PID()
	b.Stop()
	if b.PID() != 0 {
		t.Fatal("PID after Stop")
	}
	if c, err := net.DialTimeout("tcp", b.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listening after Stop")
	}
	b.Start()
	if b.PID() == pid || b.PID() == 0 {
		t.Fatalf("PID %d after a restart, was %d", b.PID(), pid)
	}
	mustConnect(t, p, b, "hub")

	b.Pause()
	if _, err := connect(t, p, b, "node-3"); err == nil {
		t.Fatal("a paused broker accepted a connection")
	}
	b.Resume()
	mustConnect(t, p, b, "node-4")

	b.Kill()
	b.Start()
	mustConnect(t, p, b, "node-5")
}

func TestBrokerOptions(t *testing.T) {
	p := mqtttest.NewPKI(t)
	b := mqtttest.StartMosquitto(t, p, mqtttest.Options{HubCN: "boss", LogTypes: []string{"error", "notice"}})
	conf, _ := os.ReadFile(b.ConfigFile)
	acl, _ := os.ReadFile(filepath.Join(filepath.Dir(b.ConfigFile), "acl"))
	if !strings.Contains(string(conf), "\nlog_type error\nlog_type notice\n") || strings.Contains(string(conf), "log_type all") {
		t.Errorf("mosquitto.conf:\n%s", conf)
	}
	if !strings.Contains(string(acl), "\nuser boss\n") {
		t.Errorf("acl:\n%s", acl)
	}
	mustConnect(t, p, b, "boss")
}
