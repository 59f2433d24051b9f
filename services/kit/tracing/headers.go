package tracing

import (
	"context"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderCarrier adapts Kafka message headers to the OpenTelemetry carrier
// interface. Set replaces an existing header of the same key, so re-injecting
// (the relay replaces the enqueuer's context with its producer span) never
// leaves two traceparents on one message.
type HeaderCarrier struct{ Headers *[]kafka.Header }

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set sets key to value.
func (c HeaderCarrier) Set(key, value string) {
	for i, h := range *c.Headers {
		if h.Key == key {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists header keys.
func (c HeaderCarrier) Keys() []string {
	out := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		out = append(out, h.Key)
	}
	return out
}

// Inject writes ctx's trace context and baggage into headers.
func Inject(ctx context.Context, headers *[]kafka.Header) {
	Propagator.Inject(ctx, HeaderCarrier{Headers: headers})
}

// Extract reads trace context and baggage from headers into ctx.
func Extract(ctx context.Context, headers []kafka.Header) context.Context {
	h := headers
	return Propagator.Extract(ctx, HeaderCarrier{Headers: &h})
}

// ExtractProducer returns the span context a message's producer put in its
// headers and ctx carrying it and the message's baggage; without a valid one
// in the headers, ctx is returned unchanged with an invalid span context.
// It parses the headers once where Extract, called twice (once to see
// whether the message carries a trace at all), parsed them twice for every
// message published and consumed.
func ExtractProducer(ctx context.Context, headers []kafka.Header) (context.Context, trace.SpanContext) {
	from := Extract(context.Background(), headers)
	sc := trace.SpanContextFromContext(from)
	if !sc.IsValid() {
		return ctx, sc
	}
	ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	if b := baggage.FromContext(from); b.Len() > 0 {
		ctx = baggage.ContextWithBaggage(ctx, b)
	}
	return ctx, sc
}
