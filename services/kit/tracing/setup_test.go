package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Without an exporter nothing is recorded, but a span still has ids that
// propagate: a child continues its parent's trace, and the ids are what the
// logs carry.
func TestWithoutExporterSpansAreNotRecordedButPropagate(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	tr := otel.Tracer("test")
	ctx, parent := tr.Start(context.Background(), "parent")
	_, child := tr.Start(ctx, "child")
	if parent.IsRecording() || child.IsRecording() {
		t.Fatal("spans are recorded although nothing exports them")
	}
	psc, csc := parent.SpanContext(), child.SpanContext()
	if !psc.IsValid() || !csc.IsValid() {
		t.Fatalf("span contexts not valid: %v %v", psc, csc)
	}
	if csc.TraceID() != psc.TraceID() || csc.SpanID() == psc.SpanID() {
		t.Fatalf("child %s/%s does not continue parent %s/%s", csc.TraceID(), csc.SpanID(), psc.TraceID(), psc.SpanID())
	}
	if traceID, _ := TraceIDs(trace.ContextWithSpan(ctx, child)); traceID != psc.TraceID().String() {
		t.Fatalf("TraceIDs = %q, want %q", traceID, psc.TraceID())
	}
}
