package tracing

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP receiver that decodes requests with the
// official generated messages, so a test passes only if the hand-written
// request wrapper is what a real collector reads.
type collector struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
	// reply answers each request (by its 0-based index); nil: 200 with an
	// empty ExportTraceServiceResponse.
	reply func(n int, w http.ResponseWriter)
}

type received struct {
	path   string
	header http.Header
	req    *coltracepb.ExportTraceServiceRequest
}

func newCollector(t *testing.T, tls bool) *collector {
	t.Helper()
	c := &collector{}
	h := http.HandlerFunc(c.serve)
	if tls {
		c.srv = httptest.NewTLSServer(h)
	} else {
		c.srv = httptest.NewServer(h)
	}
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	n := len(c.got)
	c.got = append(c.got, received{path: r.URL.Path, header: r.Header.Clone(), req: &req})
	reply := c.reply
	c.mu.Unlock()
	if reply != nil {
		reply(n, w)
		return
	}
	b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

func (c *collector) requests() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.got...)
}

// TestSetupExportsOverHTTP: a service's spans reach the collector named by
// OTEL_EXPORTER_OTLP_ENDPOINT at <base>/v1/traces as protobuf, gzip
// compressed and with the configured headers when asked, with every part of
// the span a trace viewer shows.
func TestSetupExportsOverHTTP(t *testing.T) {
	col := newCollector(t, false)
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.srv.URL+"/base")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc, x-tenant = anji")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
	t.Setenv("OTEL_SERVICE_NAME", "xinfang-test")
	shutdown, err := Setup(context.Background(), "ignored")
	if err != nil {
		t.Fatal(err)
	}
	tr := otel.Tracer("xinfang.io/services/kit/tracing/test")
	ctx, parent := tr.Start(context.Background(), "parent")
	_, other := tr.Start(context.Background(), "other")
	_, child := tr.Start(ctx, "handle", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.Link{SpanContext: other.SpanContext()}))
	SetCaseID(trace.ContextWithSpan(ctx, child), "330523-2026-000042")
	child.SetAttributes(attribute.Int("attempt", 2), attribute.Bool("redelivered", true))
	child.AddEvent("retry", trace.WithAttributes(attribute.String("reason", "busy")))
	child.SetStatus(codes.Error, "handler failed")
	child.End()
	other.End()
	parent.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	reqs := col.requests()
	if len(reqs) == 0 {
		t.Fatal("the collector received nothing")
	}
	r := reqs[0]
	if r.path != "/base/v1/traces" {
		t.Errorf("path %q, want /base/v1/traces", r.path)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip",
		"Authorization": "Bearer abc", "X-Tenant": "anji",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	spans := map[string]*tracepb.Span{}
	var service string
	for _, req := range reqs {
		for _, rs := range req.req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				if got := ss.GetScope().GetName(); got != "xinfang.io/services/kit/tracing/test" {
					t.Errorf("scope %q", got)
				}
				for _, s := range ss.Spans {
					spans[s.Name] = s
				}
			}
		}
	}
	if service != "xinfang-test" {
		t.Errorf("service.name %q, want xinfang-test (OTEL_SERVICE_NAME)", service)
	}
	h, p, o := spans["handle"], spans["parent"], spans["other"]
	if h == nil || p == nil || o == nil {
		t.Fatalf("spans received: %v", spans)
	}
	sc := child.SpanContext()
	if hex.EncodeToString(h.TraceId) != sc.TraceID().String() || hex.EncodeToString(h.SpanId) != sc.SpanID().String() {
		t.Errorf("ids %x/%x, want %s/%s", h.TraceId, h.SpanId, sc.TraceID(), sc.SpanID())
	}
	if string(h.ParentSpanId) != string(p.SpanId) {
		t.Errorf("parent %x, want %x", h.ParentSpanId, p.SpanId)
	}
	if h.Kind != tracepb.Span_SPAN_KIND_CONSUMER {
		t.Errorf("kind %v", h.Kind)
	}
	if len(h.Links) != 1 || string(h.Links[0].SpanId) != string(o.SpanId) {
		t.Errorf("links %v, want one to %x", h.Links, o.SpanId)
	}
	attrs := map[string]string{}
	for _, a := range h.Attributes {
		attrs[a.Key] = a.GetValue().String()
	}
	if !strings.Contains(attrs["case.id"], "330523-2026-000042") || !strings.Contains(attrs["attempt"], "2") || !strings.Contains(attrs["redelivered"], "true") {
		t.Errorf("attributes %v", attrs)
	}
	if len(h.Events) != 1 || h.Events[0].Name != "retry" {
		t.Errorf("events %v", h.Events)
	}
	if h.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || h.GetStatus().GetMessage() != "handler failed" {
		t.Errorf("status %v", h.GetStatus())
	}
	if h.EndTimeUnixNano < h.StartTimeUnixNano || h.StartTimeUnixNano == 0 {
		t.Errorf("times %d..%d", h.StartTimeUnixNano, h.EndTimeUnixNano)
	}
}

// testSpans is one resource with one span, as otlptrace.Exporter passes.
func testSpans() []*tracepb.ResourceSpans {
	return []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
		TraceId: make([]byte, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "s",
	}}}}}}
}

func testClient(t *testing.T, url string, r backoff) *otlpClient {
	t.Helper()
	c := newOTLPClient(otlpSettings{url: url, timeout: 5 * time.Second, maxBody: otlpMaxRequestSize, maxReply: otlpMaxResponseSize})
	c.retry = r
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

var fastRetry = backoff{first: time.Millisecond, most: 4 * time.Millisecond, total: 10 * time.Second}

// TestUploadRetriesTransientFailures: 503 and 429 (the collector is busy)
// are tried again until the collector takes the spans.
func TestUploadRetriesTransientFailures(t *testing.T) {
	col := newCollector(t, false)
	col.reply = func(n int, w http.ResponseWriter) {
		switch n {
		case 0:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 1:
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}
	c := testClient(t, col.srv.URL+"/v1/traces", fastRetry)
	if err := c.UploadTraces(context.Background(), testSpans()); err != nil {
		t.Fatal(err)
	}
	if n := len(col.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// TestUploadDoesNotRetryRejections: a 400 means the request will never be
// accepted; it is reported with the collector's reason, once.
func TestUploadDoesNotRetryRejections(t *testing.T) {
	col := newCollector(t, false)
	col.reply = func(_ int, w http.ResponseWriter) { http.Error(w, "bad span", http.StatusBadRequest) }
	c := testClient(t, col.srv.URL+"/v1/traces", fastRetry)
	err := c.UploadTraces(context.Background(), testSpans())
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "bad span") {
		t.Fatalf("error %v, want the 400 and its body", err)
	}
	if n := len(col.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestUploadGivesUp: a collector that stays unavailable fails the export
// once the retry budget is spent, instead of holding the batch forever.
func TestUploadGivesUp(t *testing.T) {
	col := newCollector(t, false)
	col.reply = func(_ int, w http.ResponseWriter) { http.Error(w, "down", http.StatusBadGateway) }
	c := testClient(t, col.srv.URL+"/v1/traces", backoff{first: time.Millisecond, most: 2 * time.Millisecond, total: 30 * time.Millisecond})
	err := c.UploadTraces(context.Background(), testSpans())
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("error %v, want giving up on 502", err)
	}
	if n := len(col.requests()); n < 2 {
		t.Errorf("%d requests, want retries", n)
	}
}

// TestStopInterruptsRetry: stopping the exporter (service shutdown) ends a
// retry wait at once rather than after the collector's Retry-After.
func TestStopInterruptsRetry(t *testing.T) {
	col := newCollector(t, false)
	first := make(chan struct{})
	var once sync.Once
	col.reply = func(_ int, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		once.Do(func() { close(first) })
	}
	c := testClient(t, col.srv.URL+"/v1/traces", backoff{first: time.Hour, most: time.Hour, total: 24 * time.Hour})
	done := make(chan error, 1)
	go func() { done <- c.UploadTraces(context.Background(), testSpans()) }()
	<-first
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want cancelled", err)
	}
}

// TestUploadReportsPartialSuccess: spans the collector accepted the
// request but rejected are reported, not silently dropped.
func TestUploadReportsPartialSuccess(t *testing.T) {
	col := newCollector(t, false)
	col.reply = func(_ int, w http.ResponseWriter) {
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
			RejectedSpans: 2, ErrorMessage: "too old"}})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}
	c := testClient(t, col.srv.URL+"/v1/traces", fastRetry)
	err := c.UploadTraces(context.Background(), testSpans())
	if err == nil || !strings.Contains(err.Error(), "2 spans rejected: too old") {
		t.Fatalf("error %v, want the partial success", err)
	}
}

// clientFromEnv is the client the OTEL_EXPORTER_OTLP_* settings in env
// make, retrying quickly, stopped when the test ends.
func clientFromEnv(t *testing.T, env map[string]string) *otlpClient {
	t.Helper()
	s, err := otlpSettingsFromEnv(mapEnv(env), readFile)
	if err != nil {
		t.Fatal(err)
	}
	c := newOTLPClient(s)
	c.retry = fastRetry
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

// TestUploadTLS: OTEL_EXPORTER_OTLP_CERTIFICATE is the CA the collector's
// certificate is checked against; without it the export fails.
func TestUploadTLS(t *testing.T) {
	col := newCollector(t, true)
	ca := writePEM(t, "ca.pem", "CERTIFICATE", col.srv.Certificate().Raw)
	env := map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": col.srv.URL + "/v1/traces"}
	if err := clientFromEnv(t, env).UploadTraces(context.Background(), testSpans()); err == nil {
		t.Fatal("export to an unknown CA succeeded")
	}
	env["OTEL_EXPORTER_OTLP_CERTIFICATE"] = ca
	if err := clientFromEnv(t, env).UploadTraces(context.Background(), testSpans()); err != nil {
		t.Fatal(err)
	}
	if n := len(col.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestUploadClientCertificate: the client certificate and key settings are
// presented to a collector that asks for one.
func TestUploadClientCertificate(t *testing.T) {
	col := &collector{}
	var mu sync.Mutex
	var seen []string
	col.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for _, cert := range r.TLS.PeerCertificates {
			seen = append(seen, cert.Subject.CommonName)
		}
		mu.Unlock()
		col.serve(w, r)
	}))
	col.srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	col.srv.StartTLS()
	t.Cleanup(col.srv.Close)
	certFile, keyFile := selfSigned(t, "xinfang-intake")
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":           col.srv.URL,
		"OTEL_EXPORTER_OTLP_CERTIFICATE":        writePEM(t, "ca.pem", "CERTIFICATE", col.srv.Certificate().Raw),
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile,
		"OTEL_EXPORTER_OTLP_CLIENT_KEY":         keyFile,
	}
	if err := clientFromEnv(t, env).UploadTraces(context.Background(), testSpans()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "xinfang-intake" {
		t.Errorf("client certificates seen: %v", seen)
	}
}
