// Package httpserver is the HTTP side every service shares: the API mux with
// tracing and RED metrics per route, /healthz (the process is alive),
// /readyz (its dependencies answer and it is not draining), /metrics, and a
// graceful stop.
package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Check is a readiness check; a nil error means ready.
type Check func(ctx context.Context) error

// Server serves a service's HTTP API and its operational endpoints.
type Server struct {
	addr     string
	mux      *http.ServeMux
	reg      *prometheus.Registry
	log      *slog.Logger
	draining atomic.Bool
	mu       sync.Mutex
	checks   map[string]Check
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lmu      sync.Mutex // guards listener: tests read Addr while Run binds
	listener net.Listener
	srv      *http.Server
}

// New returns a server for addr whose /metrics serves reg.
func New(addr string, reg *prometheus.Registry, log *slog.Logger) *Server {
	s := &Server{
		addr: addr, mux: http.NewServeMux(), reg: reg, log: log, checks: map[string]Check{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xinfang_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route", "method"}),
	}
	reg.MustRegister(s.requests, s.duration)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

// Handle registers an API route ("POST /v1/petitions"): traced, measured.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.red(pattern, h))
}

// AddReadyCheck adds a named readiness check.
func (s *Server) AddReadyCheck(name string, c Check) {
	s.mu.Lock()
	s.checks[name] = c
	s.mu.Unlock()
}

// Drain makes /readyz fail so load balancers stop sending traffic.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	failures := map[string]string{}
	if s.draining.Load() {
		failures["draining"] = "shutting down"
	}
	s.mu.Lock()
	checks := make(map[string]Check, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	for name, c := range checks {
		if err := c(ctx); err != nil {
			failures[name] = err.Error()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if len(failures) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": false, "failures": failures})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": true})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// red traces and measures a route: a server span per request (continuing
// the caller's W3C trace context) and the RED metrics. It stands in for
// otelhttp, whose response-writer wrappers weigh half a megabyte of code in
// every binary — resident memory in each of a county's four services.
func (s *Server) red(route string, h http.Handler) http.Handler {
	tracer := otel.Tracer("xinfang.io/services/kit/httpserver")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, route, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		recording := span.IsRecording() // unrecorded, the attributes are garbage
		if recording {
			span.SetAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("http.route", route),
				attribute.String("url.path", r.URL.Path),
			)
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r.WithContext(ctx))
		if recording {
			span.SetAttributes(attribute.Int("http.response.status_code", rec.code))
		}
		if rec.code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.code))
		}
		s.duration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		s.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.code)).Inc()
	})
}

// Listen binds the address unless already bound; Addr then reports the
// bound one (":0" in tests).
func (s *Server) Listen() error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.listener != nil {
		return nil
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.addr, err)
	}
	s.listener = l
	return nil
}

// Addr is the bound address after Listen, the configured one before.
func (s *Server) Addr() string {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.listener == nil {
		return s.addr
	}
	return s.listener.Addr().String()
}

// Serve serves until ctx is cancelled, then stops accepting and waits up to
// timeout for in-flight requests.
func (s *Server) Serve(ctx context.Context, timeout time.Duration) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.lmu.Lock()
	l := s.listener
	s.lmu.Unlock()
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http serve: %w", err)
	case <-ctx.Done():
	}
	s.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http serve: %w", err)
	}
	return nil
}
