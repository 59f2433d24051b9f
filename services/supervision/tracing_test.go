package supervision

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/kit/tracing"
	"xinfang.io/services/supervision/casemachine"
)

// recordSpans installs a recording tracer provider for the test, as
// tracing.Setup installs the exporting one in a service.
func recordSpans(t *testing.T) (*tracetest.SpanRecorder, trace.Tracer) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	return rec, tp.Tracer("test")
}

// outboxTraceIDs maps each outbox event id to the trace its headers carry.
func outboxTraceIDs(t *testing.T, h *harness) map[string]trace.TraceID {
	t.Helper()
	rows, err := h.db.Query(context.Background(), `SELECT event_id, headers FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]trace.TraceID{}
	for rows.Next() {
		var id, headers string
		if err := rows.Scan(&id, &headers); err != nil {
			t.Fatal(err)
		}
		var hs []kafka.Header
		if err := json.Unmarshal([]byte(headers), &hs); err != nil {
			t.Fatal(err)
		}
		out[id] = trace.SpanContextFromContext(tracing.Extract(context.Background(), hs)).TraceID()
	}
	return out
}

// Each timer firing is a trace of its own, linked to the trace the case
// came in with (routing's decision as consumed), with the case id; the
// events it publishes continue the firing's trace.
func TestTimerFiringsAreTracesLinkedToTheCase(t *testing.T) {
	rec, tracer := recordSpans(t)
	h := newHarness(t, storetest.SQLite(t))
	h.set("2026-03-02 09:00")

	// t1 arrives inside a consumer span (the case's trace); t2 without one.
	ctx, consumer := tracer.Start(context.Background(), "consume xinfang.anji.routing")
	if err := h.svc.ApplyRouting(ctx, assigned("t1", "rsj", h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	consumer.End()
	caseSpan := consumer.SpanContext()
	h.assign("t2", "rsj")
	// An action in another trace (an HTTP request) does not become the
	// case's trace.
	reqCtx, req := tracer.Start(as(supervisor), "POST /v1/cases/t1/flag")
	if _, err := h.svc.Act(reqCtx, "t1", casemachine.Command{Action: casemachine.ActFlag, Flag: "joint-meeting", Set: true}); err != nil {
		t.Fatal(err)
	}
	req.End()
	h.events()

	// Acknowledgement reminders (03-07, 03-09) of both cases, one batch,
	// fired from inside some span (whatever runs the worker must not
	// become the firings' parent).
	h.set("2026-03-10 00:00")
	wctx, worker := tracer.Start(context.Background(), "worker")
	if n, err := h.svc.FireDue(wctx); err != nil || n != 4 {
		t.Fatalf("fired %d timers (%v), want 4", n, err)
	}
	worker.End()
	published := outboxTraceIDs(t, h)
	envs, _ := outboxEnvelopes(t, h.db, 0)
	seen := map[trace.TraceID]bool{caseSpan.TraceID(): true}
	firings := 0
	for _, s := range rec.Ended() {
		if s.Name() != "supervision timer" {
			continue
		}
		firings++
		sc := s.SpanContext()
		if s.Parent().IsValid() {
			t.Errorf("timer span has a parent %v: it must start a trace", s.Parent())
		}
		if seen[sc.TraceID()] {
			t.Errorf("timer span reuses trace %s", sc.TraceID())
		}
		seen[sc.TraceID()] = true
		var caseID string
		for _, a := range s.Attributes() {
			if a.Key == tracing.CaseIDKey {
				caseID = a.Value.AsString()
			}
		}
		switch caseID {
		case "t1":
			if l := s.Links(); len(l) != 1 || l[0].SpanContext.TraceID() != caseSpan.TraceID() || l[0].SpanContext.SpanID() != caseSpan.SpanID() {
				t.Errorf("t1 timer links %+v, want the case's span %v", l, caseSpan)
			}
		case "t2":
			if len(s.Links()) != 0 {
				t.Errorf("t2 (no known trace) timer links %+v", s.Links())
			}
		default:
			t.Errorf("timer span with case.id %q", caseID)
		}
		// The reminder it published carries the firing's trace.
		n := 0
		for _, e := range envs {
			if e.GetCaseSupervisionAction() != nil && published[e.EventId] == sc.TraceID() {
				n++
				if e.CaseId != caseID {
					t.Errorf("event of case %s in the trace of a timer of %s", e.CaseId, caseID)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d events in the trace of timer span %s, want 1", n, sc.TraceID())
		}
	}
	if firings != 4 {
		t.Fatalf("%d timer spans, want 4", firings)
	}
}
