// Package middleware holds the go-kit endpoint middlewares every service
// wraps its endpoints in, whichever transport (HTTP or Kafka) calls them:
// structured logging and RED instrumentation.
package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/metrics"
	kitprometheus "github.com/go-kit/kit/metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the RED metrics of a service's endpoints.
type Metrics struct {
	Requests metrics.Counter
	Errors   metrics.Counter
	Duration metrics.Histogram
}

// NewMetrics registers endpoint metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	req := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xinfang_endpoint_requests_total", Help: "Endpoint calls, by endpoint.",
	}, []string{"endpoint"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xinfang_endpoint_errors_total", Help: "Endpoint calls that returned an error, by endpoint.",
	}, []string{"endpoint"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "xinfang_endpoint_duration_seconds", Help: "Endpoint latency, by endpoint.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"endpoint"})
	reg.MustRegister(req, errs, dur)
	return &Metrics{
		Requests: kitprometheus.NewCounter(req),
		Errors:   kitprometheus.NewCounter(errs),
		Duration: kitprometheus.NewHistogram(dur),
	}
}

// Instrumenting counts calls and errors and observes latency of endpoint name.
func Instrumenting(m *Metrics, name string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			m.Requests.With("endpoint", name).Add(1)
			if err != nil {
				m.Errors.With("endpoint", name).Add(1)
			}
			m.Duration.With("endpoint", name).Observe(time.Since(start).Seconds())
			return resp, err
		}
	}
}

// Logging logs failed calls at warn and, at debug level, every call.
func Logging(log *slog.Logger, name string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			if err != nil {
				log.WarnContext(ctx, "endpoint failed", "endpoint", name, "took", time.Since(start), "error", err)
			} else {
				log.DebugContext(ctx, "endpoint", "endpoint", name, "took", time.Since(start))
			}
			return resp, err
		}
	}
}
