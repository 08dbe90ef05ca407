// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/agent/mqtt"
)

// brokerFlags are the connection flags shared by watch, privacy and audit.
type brokerFlags struct {
	broker, ca, cert, key, prefix, clientID string
	insecure                                bool
}

func (b *brokerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.broker, "broker", "", "broker URL(s), comma-separated: ssl://hub:8883 (tcp:// only with -insecure)")
	fs.StringVar(&b.ca, "ca", "", "CA certificate file that signed the broker's certificate")
	fs.StringVar(&b.cert, "cert", "", "client certificate file (the hub's or a technician's identity)")
	fs.StringVar(&b.key, "key", "", "client key file")
	fs.BoolVar(&b.insecure, "insecure", false, "allow a plaintext tcp:// broker without a client certificate (demo only)")
	fs.StringVar(&b.prefix, "prefix", "camnode", "topic prefix")
	fs.StringVar(&b.clientID, "client-id", "", "MQTT client id (default: camctl-<random>)")
}

// connect dials the broker once (no retry: a CLI should fail fast).
func (b *brokerFlags) connect(timeout time.Duration, onConnect func(paho.Client)) (paho.Client, error) {
	return b.connectWith(timeout, func(o *paho.ClientOptions) {
		if onConnect != nil {
			o.SetOnConnectHandler(onConnect)
		}
	})
}

func (b *brokerFlags) connectWith(timeout time.Duration, set func(*paho.ClientOptions)) (paho.Client, error) {
	if b.broker == "" {
		return nil, exitError{code: 2, msg: "-broker is required"}
	}
	id := b.clientID
	if id == "" {
		var r [6]byte
		_, _ = rand.Read(r[:])
		id = "camctl-" + hex.EncodeToString(r[:])
	}
	cc := mqtt.ClientConfig{Brokers: strings.Split(b.broker, ","), CAFile: b.ca, CertFile: b.cert, KeyFile: b.key,
		Insecure: b.insecure, ClientID: id}
	o, err := cc.Options()
	if err != nil {
		return nil, exitError{code: 2, msg: err.Error()}
	}
	o.SetConnectRetry(false).SetAutoReconnect(false).SetConnectTimeout(timeout)
	set(o)
	c := paho.NewClient(o)
	t := c.Connect()
	if !t.WaitTimeout(timeout) {
		c.Disconnect(0)
		return nil, fmt.Errorf("broker %s: no answer within %v", b.broker, timeout)
	}
	if err := t.Error(); err != nil {
		return nil, fmt.Errorf("broker %s: %s", b.broker, cc.ExplainConnectError(err))
	}
	return c, nil
}

// subscribe subscribes and waits for the SUBACK.
func subscribe(c paho.Client, topic string, h paho.MessageHandler, timeout time.Duration) error {
	t := c.Subscribe(topic, 1, h)
	if !t.WaitTimeout(timeout) {
		return errors.New("subscribe " + topic + ": no SUBACK")
	}
	return t.Error()
}

func validNode(n string) bool {
	return n != "" && !strings.ContainsAny(n, "/+#") && len(n) <= 64
}
