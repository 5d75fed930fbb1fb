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

package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tollgate-dev/tollgate/internal/webhook/injection"
)

const certHint = "with --cert-mode=self the manager renews its CA and certificate itself (restart it if they are stale); with cert-manager check the Certificate " +
	injection.WebhookSecretName + " and its cainjector"

// checkCertificates checks each injection webhook's caBundle, and the certificate its
// server presents (a URL) or keeps in its Secret (a Service): valid now, for
// MinCertValidity more, and signed by the caBundle for the name the API server calls.
func (c *checker) checkCertificates(ctx context.Context) {
	if len(c.hooks) == 0 {
		c.add(CheckResult{Category: CategoryCertificates, Name: "certificates", Status: CheckSkip, Message: "no injection webhook configured"})
		return
	}
	now := c.now()
	for _, f := range c.hooks {
		r := CheckResult{Category: CategoryCertificates, Name: "caBundle of " + f.config}
		roots, err := parseCertificates(f.hook.ClientConfig.CABundle)
		if err == nil {
			err = validFor(roots, now, c.opts.MinCertValidity)
		}
		if err != nil {
			r.Status, r.Message, r.Hint = CheckFail, err.Error(), certHint
			c.add(r)
			continue
		}
		r.Status, r.Message = CheckOK, fmt.Sprintf("%d CA certificate(s), valid until %s", len(roots), rfc3339(earliestExpiry(roots)))
		c.add(r)

		r = CheckResult{Category: CategoryCertificates, Name: "serving certificate of " + f.config}
		chain, host, source, err := c.servingCertificate(ctx, f)
		switch {
		case apierrors.IsForbidden(err):
			r.Status, r.Message = CheckSkip, "not allowed to read "+source+": "+err.Error()
		case err != nil:
			r.Status, r.Message, r.Hint = CheckFail, "reading "+source+": "+err.Error(), webhookCallHint(err.Error(), f)
		default:
			err = verifyServing(chain, roots, host, now)
			if err == nil {
				err = validFor(chain[:1], now, c.opts.MinCertValidity)
			}
			if err != nil {
				r.Status, r.Message, r.Hint = CheckFail, source+": "+err.Error(), certHint
			} else {
				r.Status, r.Message = CheckOK, fmt.Sprintf("%s: valid for %s until %s, signed by the caBundle", source, host, rfc3339(chain[0].NotAfter))
			}
		}
		c.add(r)
	}
}

// servingCertificate is the chain the webhook serves, and the name the API server checks
// it for: from a TLS handshake with a URL, or from the Secret beside a Service.
func (c *checker) servingCertificate(ctx context.Context, f foundWebhook) (chain []*x509.Certificate, host, source string, err error) {
	cc := f.hook.ClientConfig
	if cc.URL != nil {
		u, err := url.Parse(*cc.URL)
		if err != nil {
			return nil, "", *cc.URL, err
		}
		source = "the server at " + u.Host
		port := u.Port()
		if port == "" {
			port = "443"
		}
		dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: c.opts.Timeout},
			// Verified below against the caBundle, to say precisely what is wrong.
			Config: &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()}} //nolint:gosec
		cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
		conn, err := dialer.DialContext(cctx, "tcp", net.JoinHostPort(u.Hostname(), port))
		if err != nil {
			return nil, u.Hostname(), source, err
		}
		defer conn.Close()
		return conn.(*tls.Conn).ConnectionState().PeerCertificates, u.Hostname(), source, nil
	}
	if cc.Service == nil {
		return nil, "", "the webhook's clientConfig", errors.New("neither url nor service is set")
	}
	svc := cc.Service
	key := types.NamespacedName{Namespace: svc.Namespace, Name: injection.WebhookSecretName}
	source = "Secret " + key.String()
	host = svc.Name + "." + svc.Namespace + ".svc"
	secret := &corev1.Secret{}
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if err := c.client.Get(cctx, key, secret); err != nil {
		return nil, host, source, err
	}
	chain, err = parseCertificates(secret.Data[corev1.TLSCertKey])
	return chain, host, source, err
}

// parseCertificates decodes PEM certificates; none is an error.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("a certificate does not parse: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate (empty: nobody has written the CA yet)")
	}
	return out, nil
}

// validFor: every certificate is valid at now and for minValidity more.
func validFor(certs []*x509.Certificate, now time.Time, minValidity time.Duration) error {
	for _, c := range certs {
		switch {
		case now.Before(c.NotBefore):
			return fmt.Errorf("certificate %q is not valid before %s", c.Subject.CommonName, rfc3339(c.NotBefore))
		case now.After(c.NotAfter):
			return fmt.Errorf("certificate %q expired at %s", c.Subject.CommonName, rfc3339(c.NotAfter))
		case now.Add(minValidity).After(c.NotAfter):
			return fmt.Errorf("certificate %q expires at %s, in less than %s", c.Subject.CommonName, rfc3339(c.NotAfter), minValidity)
		}
	}
	return nil
}

func earliestExpiry(certs []*x509.Certificate) time.Time {
	t := certs[0].NotAfter
	for _, c := range certs[1:] {
		if c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// verifyServing: chain's leaf is valid for host at now, through roots, as the API server
// verifies it.
func verifyServing(chain, roots []*x509.Certificate, host string, now time.Time) error {
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: pool, Intermediates: inter, CurrentTime: now})
	return err
}
