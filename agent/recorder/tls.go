// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/camnode/camnode/firmware"
)

// TLSConfig is the server's TLS configuration: its certificate and key,
// and, if clientCAFile is set, the site CA that signs recorders' client
// certificates (asked for, verified if given; a recorder without one
// authenticates with Digest).
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := firmware.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("recorder: certificate: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := firmware.ReadFile(clientCAFile, firmware.MaxCertFileSize)
		if err != nil {
			return nil, fmt.Errorf("recorder: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("recorder: client CA: no PEM certificate in " + clientCAFile)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c, nil
}
