/*
Copyright 2026 The tollgate Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package dev

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// LocalServingCert is the webhook's certificate when the manager runs outside the cluster
// (--webhook-url): a CA and a serving certificate, both in memory only. cert-controller
// cannot serve this case: it keeps its certificate in a Secret of a namespace that a fresh
// dev cluster lacks, and it issues DNS names only, while the API server may dial 127.0.0.1.
// The CA lives as long as the process; the serving certificate is reissued from it before
// it expires, so the caBundle never changes while the manager runs.
type LocalServingCert struct {
	hosts  []string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	// ServingValidity is the lifetime of each serving certificate.
	servingValidity time.Duration

	mu      sync.Mutex
	serving *tls.Certificate
	renewAt time.Time
}

// NewLocalServingCert makes a CA and a serving certificate for hosts (DNS names or IPs).
func NewLocalServingCert(hosts []string) (*LocalServingCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "tollgate local webhook CA", Organization: []string{"tollgate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the local webhook CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &LocalServingCert{
		hosts: hosts, caCert: ca, caKey: key,
		caPEM:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		servingValidity: 90 * 24 * time.Hour,
	}
	if _, err := c.current(now); err != nil {
		return nil, err
	}
	return c, nil
}

// CABundle is the PEM of the CA, for the webhook configuration's caBundle.
func (c *LocalServingCert) CABundle() []byte { return c.caPEM }

// GetCertificate is a tls.Config.GetCertificate.
func (c *LocalServingCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current(time.Now())
}

func (c *LocalServingCert) current(now time.Time) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.serving != nil && now.Before(c.renewAt) {
		return c.serving, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: c.hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(c.servingValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range c.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, &key.PublicKey, c.caKey)
	if err != nil {
		return nil, fmt.Errorf("issuing the local webhook serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c.serving = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	c.renewAt = now.Add(c.servingValidity * 2 / 3)
	return c.serving, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// LocalHosts are the names a serving certificate for a URL on host must hold: host itself,
// and for a loopback name all of localhost, 127.0.0.1 and ::1.
func LocalHosts(host string) []string {
	hosts := []string{host}
	if host == "localhost" || net.ParseIP(host).IsLoopback() {
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			if h != host {
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}
