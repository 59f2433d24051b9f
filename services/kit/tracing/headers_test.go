package tracing_test

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"xinfang.io/services/kit/tracing"
)

func TestExtractProducer(t *testing.T) {
	producer := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	member, err := baggage.NewMember("county", "anji")
	if err != nil {
		t.Fatal(err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		t.Fatal(err)
	}
	var headers []kafka.Header
	sent := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), producer), bag)
	tracing.Inject(sent, &headers)

	// The consumer's own context has a span of its own: a message that
	// carries a producer's replaces it, one that does not keeps it.
	own := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}})
	ctx := trace.ContextWithSpanContext(context.Background(), own)

	got, sc := tracing.ExtractProducer(ctx, headers)
	if !sc.Equal(producer.WithRemote(true)) {
		t.Errorf("span context = %v, want the producer's %v", sc, producer)
	}
	if in := trace.SpanContextFromContext(got); !in.Equal(sc) || !in.IsRemote() {
		t.Errorf("context carries %v, want the producer's remote span context", in)
	}
	if v := baggage.FromContext(got).Member("county").Value(); v != "anji" {
		t.Errorf("baggage county = %q, want anji", v)
	}
	// The same as the general Extract into the same context.
	if want := trace.SpanContextFromContext(tracing.Extract(ctx, headers)); !want.Equal(sc) {
		t.Errorf("Extract gives %v, ExtractProducer %v", want, sc)
	}

	for name, hs := range map[string][]kafka.Header{
		"no headers":        nil,
		"other headers":     {{Key: "event-id", Value: []byte("e1")}},
		"a bad traceparent": {{Key: "traceparent", Value: []byte("00-zz-yy-01")}},
	} {
		got, sc := tracing.ExtractProducer(ctx, hs)
		if sc.IsValid() {
			t.Errorf("%s: span context %v, want none", name, sc)
		}
		if got != ctx {
			t.Errorf("%s: the context was replaced", name)
		}
	}
}
