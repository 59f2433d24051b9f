package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestRecordsCarryTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "json", "intake")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.With("k", "v").InfoContext(ctx, "registered", "case_id", "c1")
	span.End()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["service"] != "intake" || rec["k"] != "v" {
		t.Fatalf("record = %v", rec)
	}
	buf.Reset()
	log.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatal("debug record written at info level")
	}
	if _, err := New(&buf, "loud", "json", "x"); err == nil {
		t.Fatal("bad level accepted")
	}
}
