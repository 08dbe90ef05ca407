// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/camnode/camnode/firmware"
)

// Client limits.
const (
	MaxKeepalive         = 10 * time.Second
	MaxReconnectInterval = 30 * time.Second
	DefaultWriteTimeout  = 5 * time.Second
)

// ClientConfig is how to reach the broker: shared by the node's link and
// camctl.
type ClientConfig struct {
	Brokers []string
	// CAFile verifies the broker; CertFile/KeyFile are the client
	// certificate. All three are required unless Insecure.
	CAFile, CertFile, KeyFile string
	// Insecure allows tcp:// (plaintext, no client certificate).
	Insecure  bool
	ClientID  string
	Keepalive time.Duration // default and maximum MaxKeepalive
	// WriteTimeout bounds each network write (default DefaultWriteTimeout).
	WriteTimeout time.Duration
}

// Options builds paho client options: brokers, TLS 1.2+ with client
// certificate, keepalive, capped reconnect backoff, write timeout. The
// caller adds the will and the handlers.
func (c ClientConfig) Options() (*paho.ClientOptions, error) {
	if len(c.Brokers) == 0 {
		return nil, errors.New("mqtt: no broker")
	}
	if c.ClientID == "" {
		return nil, errors.New("mqtt: no client id")
	}
	o := paho.NewClientOptions()
	plain := false
	for _, b := range c.Brokers {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("mqtt: broker %q is not a URL like ssl://host:8883", b)
		}
		switch u.Scheme {
		case "ssl", "tls", "mqtts":
		case "tcp", "mqtt":
			plain = true
		default:
			return nil, fmt.Errorf("mqtt: broker %q: scheme must be ssl:// or tcp://", b)
		}
		o.AddBroker(b)
	}
	if plain && !c.Insecure {
		return nil, errors.New("mqtt: a tcp:// broker is plaintext; it needs insecure = true")
	}
	if c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || !c.Insecure {
		tc, err := c.TLS()
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	ka := c.Keepalive
	if ka <= 0 || ka > MaxKeepalive {
		ka = MaxKeepalive
	}
	wt := c.WriteTimeout
	if wt <= 0 {
		wt = DefaultWriteTimeout
	}
	o.SetClientID(c.ClientID).
		SetKeepAlive(ka).
		SetPingTimeout(min(ka, 5*time.Second)).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(wt).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetProtocolVersion(4). // 3.1.1 only: no second attempt with 3.1 after each refusal
		SetMaxReconnectInterval(MaxReconnectInterval).
		SetCleanSession(true).
		SetStore(newCopyStore()). // see copyStore: paho's MemoryStore races on resend
		SetOrderMatters(true)     // handlers never block: they only queue
	return o, nil
}

// TLS loads the CA and client certificate into a TLS 1.2+ configuration.
func (c ClientConfig) TLS() (*tls.Config, error) {
	if c.CAFile == "" || c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("mqtt: TLS needs a CA file, a certificate file and a key file")
	}
	pem, err := firmware.ReadFile(c.CAFile, firmware.MaxCertFileSize)
	if err != nil {
		return nil, fmt.Errorf("mqtt: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("mqtt: CA: %s holds no PEM certificate", c.CAFile)
	}
	cert, err := firmware.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt: client certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}

// CertCN returns the common name of the client certificate; ok is false
// when there is no certificate file (an insecure link).
func (c ClientConfig) CertCN() (cn string, ok bool, err error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return "", false, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return "", false, fmt.Errorf("mqtt: client certificate: %w", err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return "", false, fmt.Errorf("mqtt: client certificate: %w", err)
		}
	}
	return leaf.Subject.CommonName, true, nil
}

// ExplainConnectError says what a failed connection attempt means, for a
// person: which certificate is wrong, or that nothing listens. It keeps
// the library's error at the end.
func (c ClientConfig) ExplainConnectError(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		opErr     *net.OpError
		dnsErr    *net.DNSError
	)
	tlsUsed := c.CAFile != "" || !c.Insecure
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("broker certificate not signed by the CA in %s (%v)", c.CAFile, err)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("broker certificate is not for this host name (%v)", err)
	case errors.As(err, &invalid):
		return fmt.Sprintf("broker certificate is not valid (%v)", err)
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return fmt.Sprintf("the broker refused the TLS handshake: it does not accept the client certificate in %s (signed by another CA, expired or revoked?) (%v)", c.CertFile, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens at the broker address (connection refused; broker down or wrong port) (%v)", err)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve the broker's host name (%v)", err)
	case tlsUsed && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)):
		return fmt.Sprintf("the broker closed the connection during the handshake: it probably does not accept the client certificate in %s (signed by another CA, expired or revoked?) (%v)", c.CertFile, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer from the broker in time (%v)", err)
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword),
		errors.Is(err, packets.ErrorRefusedIDRejected):
		return fmt.Sprintf("the broker refused the login (%v)", err)
	}
	return err.Error()
}
