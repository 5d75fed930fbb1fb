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

package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Why this transport is ours: otlptracehttp builds its request with the generated
// collector package (go.opentelemetry.io/proto/otlp/collector/trace/v1), which also holds
// the gRPC service stubs and a grpc-gateway handler, so linking it links gRPC and
// grpc-gateway (upstream opentelemetry-go issue 2579). In the sidecar that cost 4.1 MiB of
// idle resident memory in every pod (docs/monitoring.md). The request is one repeated
// field, so it is written here with protowire; the spans themselves are the SDK's
// (otlptrace's transform to tracepb), marshalled by the protobuf library.

// The retry schedule of a batch the collector could not take (429, 502, 503, 504, or a
// connection failure): exponential from retryFirst, at most retryMaxWait between tries
// (a longer Retry-After drops the batch instead), at most retryAttempts tries, all within
// the deadline of the export (OTEL_BSP_EXPORT_TIMEOUT, 30 s by default).
const (
	retryAttempts = 5
	retryFirst    = 500 * time.Millisecond
	retryMaxWait  = 15 * time.Second
)

// maxResponse bounds what is read of the collector's answer: its headers, and its body.
const maxResponse = 64 << 10

const contentTypeProtobuf = "application/x-protobuf"

// client sends batches to an OTLP/HTTP collector as protobuf: otlptrace.Client.
type client struct {
	cfg  exportConfig
	http *http.Client
	// firstWait is the first retry's wait without a Retry-After (retryFirst).
	firstWait time.Duration

	stopOnce sync.Once
	stop     chan struct{}
}

var _ otlptrace.Client = (*client)(nil)

func newClient(cfg exportConfig) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.tls
	tr.MaxIdleConnsPerHost = 2
	// The answer's headers are bounded as its body is (net/http's default is 10 MiB).
	tr.MaxResponseHeaderBytes = maxResponse
	return &client{
		cfg: cfg,
		http: &http.Client{Transport: tr, Timeout: cfg.timeout,
			// A redirect is a failure: following it would send the headers (credentials)
			// wherever the answer points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		firstWait: retryFirst,
		stop:      make(chan struct{}),
	}
}

// Start does nothing: connections open with the first batch.
func (*client) Start(context.Context) error { return nil }

// Stop interrupts the batch in flight and its retries.
func (c *client) Stop(context.Context) error {
	c.stopOnce.Do(func() { close(c.stop) })
	c.http.CloseIdleConnections()
	return nil
}

// UploadTraces posts one batch, retrying as the OTLP specification asks. Its errors name
// the endpoint and the status, never a header (they may hold credentials) nor what the
// collector answered (it may quote the spans).
func (c *client) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := encodeRequest(spans)
	if err != nil {
		return fmt.Errorf("encoding spans: %w", err)
	}
	if c.cfg.gzip {
		if body, err = gzipped(body); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := c.firstWait
	for attempt := 1; ; attempt++ {
		err := c.post(ctx, body)
		var retry *retryable
		if err == nil || !errors.As(err, &retry) || attempt == retryAttempts {
			return err
		}
		// The collector's Retry-After as it says; else the backoff, with jitter as the
		// specification asks.
		wait := backoff/2 + rand.N(backoff/2+1) //nolint:gosec // jitter, not a secret
		if retry.after > 0 {
			wait = retry.after
		}
		backoff = min(2*backoff, retryMaxWait)
		if wait > retryMaxWait {
			return fmt.Errorf("%w (the collector asks to wait %s: the batch is dropped)", err, wait)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// retryable is a failure the batch may be sent again after: after is the collector's
// Retry-After, 0 when it gave none.
type retryable struct {
	err   error
	after time.Duration
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

func (c *client) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("exporting spans to %s: %w", c.cfg.url, err)
	}
	for k, v := range c.cfg.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("User-Agent", "tollgate OTLP exporter")
	if c.cfg.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The client's errors name the URL and the failure, never the request's headers.
		if ctx.Err() != nil {
			return fmt.Errorf("exporting spans to %s: %w", c.cfg.url, ctx.Err())
		}
		return &retryable{err: fmt.Errorf("exporting spans to %s: %w", c.cfg.url, err)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return &retryable{err: fmt.Errorf("exporting spans to %s: reading the answer: %w", c.cfg.url, err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse)) // reuse the connection
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		if resp.Header.Get("Content-Type") != contentTypeProtobuf {
			return nil
		}
		if n := rejectedSpans(answer); n > 0 {
			return fmt.Errorf("exporting spans to %s: the collector rejected %d spans", c.cfg.url, n)
		}
		return nil
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &retryable{
			err:   fmt.Errorf("exporting spans to %s: %s", c.cfg.url, resp.Status),
			after: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	return fmt.Errorf("exporting spans to %s: %s", c.cfg.url, resp.Status)
}

// encodeRequest writes an ExportTraceServiceRequest: field 1, resource_spans, repeated.
func encodeRequest(spans []*tracepb.ResourceSpans) ([]byte, error) {
	var b []byte
	opts := proto.MarshalOptions{UseCachedSize: true}
	for _, rs := range spans {
		n := proto.Size(rs)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		var err error
		if b, err = opts.MarshalAppend(b, rs); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func gzipped(body []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rejectedSpans reads partial_success.rejected_spans of an ExportTraceServiceResponse
// (field 1, a message whose field 1 is an int64); 0 when absent or malformed.
func rejectedSpans(b []byte) int64 {
	var rejected int64
	ok := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		if num != 1 || typ != protowire.BytesType {
			return true
		}
		msg, _ := protowire.ConsumeBytes(v)
		return eachField(msg, func(num protowire.Number, typ protowire.Type, v []byte) bool {
			if num == 1 && typ == protowire.VarintType {
				n, _ := protowire.ConsumeVarint(v)
				rejected = int64(min(n, math.MaxInt64))
			}
			return true
		})
	})
	if !ok {
		return 0
	}
	return rejected
}

// eachField calls f with the number, type and encoded value of each field of the message
// b, in order, until f returns false; false when it did or b is malformed.
func eachField(b []byte, f func(protowire.Number, protowire.Type, []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 || !f(num, typ, b[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// retryAfter is a Retry-After value, seconds or an HTTP date, as a wait from now; 0 when
// absent or malformed. Anything over a day reads as a day: the caller compares it with
// its own bounds.
func retryAfter(v string, now time.Time) time.Duration {
	const day = 24 * time.Hour
	if v == "" {
		return 0
	}
	s, err := strconv.ParseUint(v, 10, 64)
	if err == nil && s <= uint64(day/time.Second) {
		return time.Duration(s) * time.Second
	}
	if err == nil || errors.Is(err, strconv.ErrRange) {
		return day
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), day)
	}
	return 0
}
