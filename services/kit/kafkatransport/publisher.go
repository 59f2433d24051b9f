package kafkatransport

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"xinfang.io/services/kit/tracing"
)

const instrumentationName = "xinfang.io/services/kit/kafkatransport"

// Publisher writes messages and starts one producer span per message. A
// message that already carries trace headers (an outbox row stores the
// context it was enqueued in) gets its producer span as a child of that
// context; otherwise of ctx. The producer span's context replaces the
// message's trace headers, so the consumer's span is parented on it.
type Publisher struct {
	w        *kafka.Writer
	tracer   trace.Tracer
	written  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	requests prometheus.Counter
}

// NewPublisher wraps w. Metrics register on reg when it is not nil.
func NewPublisher(w *kafka.Writer, reg prometheus.Registerer) *Publisher {
	p := &Publisher{
		w:      w,
		tracer: otel.Tracer(instrumentationName),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_kafka_published_messages_total",
			Help: "Messages written to Kafka, by topic and outcome.",
		}, []string{"topic", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xinfang_kafka_publish_duration_seconds",
			Help:    "Time to write one batch to Kafka with acks from all replicas.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"outcome"}),
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xinfang_kafka_produce_requests_total",
			Help: "Produce requests sent: one per partition leader per publish, retries included.",
		}),
	}
	if reg != nil {
		reg.MustRegister(p.written, p.latency, p.requests)
	}
	return p
}

// Writer returns the underlying writer: its connections, balancer, acks and
// retry settings are what Publish uses; its batching is not (see produceNow).
func (p *Publisher) Writer() *kafka.Writer { return p.w }

// Publish writes msgs synchronously and at once; it returns when every
// message is acknowledged or the write failed. Messages must name their
// topic; each gets the partition and offset it was written to.
func (p *Publisher) Publish(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	spans := make([]trace.Span, len(msgs))
	now := time.Now()
	for i := range msgs {
		m := &msgs[i]
		if m.Time.IsZero() {
			m.Time = now // the record timestamp consumers measure their delay from
		}
		parent := ctx
		if len(m.Headers) > 0 {
			parent, _ = tracing.ExtractProducer(ctx, m.Headers)
		}
		_, span := p.tracer.Start(parent, "publish "+m.Topic, trace.WithSpanKind(trace.SpanKindProducer))
		if span.IsRecording() { // the attributes cost more than the span
			span.SetAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.destination.name", m.Topic),
				attribute.String("messaging.message.id", Header(*m, HeaderEventID)),
				attribute.String("event.type", Header(*m, HeaderEventType)),
				tracing.CaseIDKey.String(string(m.Key)),
			)
		}
		headers := append([]kafka.Header(nil), m.Headers...)
		tracing.Inject(trace.ContextWithSpan(parent, span), &headers)
		m.Headers = headers
		spans[i] = span
	}
	start := time.Now()
	err := p.produceNow(ctx, msgs)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	p.latency.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	for i, span := range spans {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
		} else if span.IsRecording() {
			span.SetAttributes(attribute.String("messaging.kafka.partition", strconv.Itoa(msgs[i].Partition)))
		}
		span.End()
		p.written.WithLabelValues(msgs[i].Topic, outcome).Inc()
	}
	if err != nil {
		return fmt.Errorf("publish %d messages: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the writer and its connections.
func (p *Publisher) Close() error {
	err := p.w.Close()
	if tr, ok := p.w.Transport.(*kafka.Transport); ok {
		tr.CloseIdleConnections()
	}
	return err
}
