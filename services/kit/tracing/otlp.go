package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// otlpClient sends spans to an OTLP/HTTP collector (protobuf body,
// optionally gzip) for otlptrace.Exporter, which turns the SDK's spans into
// the OTLP messages. It replaces otlptracehttp, which links all of gRPC into
// the binary through its shared configuration package (upstream issue
// open-telemetry/opentelemetry-go#2579): 5 MB of each service's binary and
// about 4 MiB of an idle service's resident memory, for a transport the
// services never use. It behaves as otlptracehttp does: the same settings,
// retries of 429/502/503/504 and timeouts with exponential backoff that
// honours Retry-After, partial success reported as an error.
type otlpClient struct {
	s      otlpSettings
	http   *http.Client
	stop   context.Context
	cancel context.CancelFunc
	retry  backoff
}

var _ otlptrace.Client = (*otlpClient)(nil)

// backoff is the retry schedule: waits growing by half from first up to
// most, each randomised by ±50%, given up after total.
type backoff struct{ first, most, total time.Duration }

// otlpRetry is otlptracehttp's default schedule.
var otlpRetry = backoff{first: 5 * time.Second, most: 30 * time.Second, total: time.Minute}

func newOTLPClient(s otlpSettings) *otlpClient {
	// A copy of the default transport (proxy from the environment, dial and
	// idle timeouts), so that nothing else's changes to it reach this one.
	t := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if d, ok := http.DefaultTransport.(*http.Transport); ok {
		t = d.Clone()
	}
	if s.tls != nil {
		t.TLSClientConfig = s.tls
	}
	stop, cancel := context.WithCancel(context.Background())
	return &otlpClient{s: s, http: &http.Client{Transport: t, Timeout: s.timeout}, stop: stop, cancel: cancel, retry: otlpRetry}
}

// Start does nothing: a connection is made by the first export.
func (c *otlpClient) Start(context.Context) error { return nil }

// Stop interrupts an export in flight (the exporter has flushed before).
func (c *otlpClient) Stop(ctx context.Context) error {
	c.cancel()
	c.http.CloseIdleConnections()
	return ctx.Err()
}

// UploadTraces sends one ExportTraceServiceRequest.
func (c *otlpClient) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := exportRequest(spans)
	if err != nil {
		return err
	}
	if len(body) > c.s.maxBody {
		return fmt.Errorf("otlp: request of %d bytes exceeds the %d byte limit", len(body), c.s.maxBody)
	}
	if c.s.gzip {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		if _, err := gz.Write(body); err != nil {
			return fmt.Errorf("otlp: gzip: %w", err)
		}
		if err := gz.Close(); err != nil {
			return fmt.Errorf("otlp: gzip: %w", err)
		}
		body = b.Bytes()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.stop, cancel)()

	start, wait := time.Now(), c.retry.first
	for {
		err := c.post(ctx, body)
		var r retryable
		if err == nil || !errors.As(err, &r) {
			return err
		}
		delay := max(r.after, jitter(wait))
		wait = min(wait+wait/2, c.retry.most)
		if time.Since(start)+delay > c.retry.total {
			return fmt.Errorf("otlp: giving up after %s: %w", time.Since(start).Round(time.Millisecond), err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("otlp: %w (last attempt: %w)", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// exportRequest encodes an ExportTraceServiceRequest: its only field is
// resource_spans = 1. The message type itself lives in the collector
// package, which imports gRPC, so the wrapper is written here.
func exportRequest(spans []*tracepb.ResourceSpans) ([]byte, error) {
	var b []byte
	for _, rs := range spans {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(proto.Size(rs)))
		var err error
		if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, rs); err != nil {
			return nil, fmt.Errorf("otlp: encode spans: %w", err)
		}
	}
	return b, nil
}

// retryable is a failure worth another attempt, after at least after.
type retryable struct {
	after time.Duration
	err   error
}

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

func (c *otlpClient) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	for k, v := range c.s.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "OTel OTLP Exporter Go/"+otlptrace.Version())
	if c.s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			return retryable{err: fmt.Errorf("otlp: %w", err)}
		}
		return fmt.Errorf("otlp: %w", err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, c.s.maxReply))
	if err != nil {
		return fmt.Errorf("otlp: read response of %s: %w", c.s.url, err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		if resp.Header.Get("Content-Type") != "application/x-protobuf" {
			return nil
		}
		return partialSuccess(reply)
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		return retryable{after: retryAfter(resp.Header.Get("Retry-After")),
			err: fmt.Errorf("otlp: %s: %s (%s)", c.s.url, resp.Status, replyText(reply))}
	default:
		return fmt.Errorf("otlp: %s: %s (%s)", c.s.url, resp.Status, replyText(reply))
	}
}

// partialSuccess reads an ExportTraceServiceResponse: partial_success = 1
// { rejected_spans = 1, error_message = 2 }, and reports rejected spans.
func partialSuccess(b []byte) error {
	var rejected uint64
	var msg string
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
			switch {
			case num == 1 && typ == protowire.VarintType:
				rejected = n
			case num == 2 && typ == protowire.BytesType:
				msg = string(v)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("otlp: response: %w", err)
	}
	if rejected != 0 || msg != "" {
		return fmt.Errorf("otlp partial success: %d spans rejected: %s", rejected, msg)
	}
	return nil
}

// eachField calls f for each field of a protobuf message: v is a bytes
// field's content, n a varint's value.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

func replyText(b []byte) string {
	if s := strings.TrimSpace(string(b)); s != "" {
		return "body: " + s
	}
	return "body: (empty)"
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, int64(time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// jitter spreads d over [d/2, 3d/2) so that the services of a county do not
// retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}
