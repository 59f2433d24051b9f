package kafkatransport_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/brokertest"
	kt "xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/tracing"
)

// received collects what a consumer handled.
type received struct {
	mu   sync.Mutex
	msgs []kafka.Message
	ctxs []context.Context
}

func (r *received) Handle(ctx context.Context, m kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	r.ctxs = append(r.ctxs, ctx)
	return nil
}

func (r *received) len() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.msgs) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func envelope(t *testing.T, topic, caseID string, i int) kafka.Message {
	t.Helper()
	env := &eventsv1.Envelope{
		EventId: fmt.Sprintf("%s-e%d", caseID, i), County: "anji", CaseId: caseID,
		OccurredAt: timestamppb.Now(), SchemaVersion: eventsv1.SchemaVersion,
	}
	if err := env.SetPayload(&eventsv1.CaseAccepted{Department: "rsj"}); err != nil {
		t.Fatal(err)
	}
	m, err := kt.EncodeEnvelope(topic, env)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type consumerSet struct {
	t      *testing.T
	cancel []context.CancelFunc
	done   []chan error
}

func (s *consumerSet) start(brokers []string, group string, topics []string, dlqTopic string, h kt.Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	c, err := kt.NewConsumer(kt.ConsumerConfig{
		Reader:          kt.ReaderConfig{Brokers: brokers, GroupID: group, Topics: topics},
		DeadLetterTopic: dlqTopic, MaxAttempts: 3, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	}, h, w, nil, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx); w.Close() }()
	s.cancel = append(s.cancel, cancel)
	s.done = append(s.done, done)
}

func (s *consumerSet) stop() {
	for i, cancel := range s.cancel {
		cancel()
		select {
		case err := <-s.done[i]:
			if err != nil {
				s.t.Errorf("consumer %d: %v", i, err)
			}
		case <-time.After(20 * time.Second):
			s.t.Errorf("consumer %d did not stop", i)
		}
	}
	s.cancel, s.done = nil, nil
}

// useTracer installs a recording SDK tracer provider for the test, as
// tracing.Setup does in a service.
func useTracer(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	return rec, tp
}

func TestPublishedMessageReachesEachGroupOnceWithHeadersAndTrace(t *testing.T) {
	rec, tp := useTracer(t)

	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 3)
	dlq := brokertest.Topic(t, brokers, 1)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()

	// The message is published inside a request span carrying baggage.
	member, _ := baggage.NewMember("county", "anji")
	bag, _ := baggage.New(member)
	ctx, root := tp.Tracer("test").Start(baggage.ContextWithBaggage(context.Background(), bag), "register")
	msg := envelope(t, topic, "case-1", 1)
	if err := pub.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	root.End()

	routing, stats := &received{}, &received{}
	cs := &consumerSet{t: t}
	cs.start(brokers, "routing", []string{topic}, dlq, routing)
	cs.start(brokers, "statistics", []string{topic}, dlq, stats)
	waitFor(t, "both groups", func() bool { return routing.len() == 1 && stats.len() == 1 })
	time.Sleep(300 * time.Millisecond) // a second delivery would arrive by now
	cs.stop()
	if routing.len() != 1 || stats.len() != 1 {
		t.Fatalf("deliveries: routing %d, statistics %d; want 1 each", routing.len(), stats.len())
	}
	got := routing.msgs[0]
	for key, want := range map[string]string{
		kt.HeaderEventID: "case-1-e1", kt.HeaderEventType: "case.accepted", kt.HeaderCounty: "anji",
		kt.HeaderSchemaVersion: "1", kt.HeaderContentType: kt.ContentTypeProtobuf,
	} {
		if v := kt.Header(got, key); v != want {
			t.Errorf("header %s = %q, want %q", key, v, want)
		}
	}
	if string(got.Key) != "case-1" {
		t.Errorf("key = %q", got.Key)
	}
	if kt.Header(got, "traceparent") == "" {
		t.Fatal("no traceparent header")
	}
	if v := baggage.FromContext(routing.ctxs[0]).Member("county").Value(); v != "anji" {
		t.Errorf("consumer context baggage county = %q, want anji", v)
	}
	env, err := kt.DecodeEnvelope(got)
	if err != nil || env.GetCaseAccepted().GetDepartment() != "rsj" {
		t.Fatalf("decode: %v, %v", env, err)
	}

	// The consumer span is a child of the producer span, in the same trace
	// as the request, linked to the producer, and tagged with the case id.
	consumerSC := trace.SpanContextFromContext(routing.ctxs[0])
	var producer, consumer sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindProducer:
			producer = s
		case s.SpanKind() == trace.SpanKindConsumer && s.SpanContext().SpanID() == consumerSC.SpanID():
			consumer = s
		}
	}
	if producer == nil || consumer == nil {
		t.Fatalf("spans missing: producer %v consumer %v", producer, consumer)
	}
	if producer.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Error("producer span is not a child of the request span")
	}
	if consumer.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Error("consumer span is in another trace")
	}
	if consumer.Parent().SpanID() != producer.SpanContext().SpanID() {
		t.Error("consumer span is not parented on the producer span")
	}
	if len(consumer.Links()) != 1 || consumer.Links()[0].SpanContext.SpanID() != producer.SpanContext().SpanID() {
		t.Error("consumer span does not link the producer span")
	}
	for _, s := range []sdktrace.ReadOnlySpan{producer, consumer} {
		found := false
		for _, a := range s.Attributes() {
			if a.Key == tracing.CaseIDKey && a.Value.AsString() == "case-1" {
				found = true
			}
		}
		if !found {
			t.Errorf("span %q has no case.id", s.Name())
		}
	}
}

func TestTwoConsumersInOneGroupSplitPartitions(t *testing.T) {
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 4)
	dlq := brokertest.Topic(t, brokers, 1)
	a, b := &received{}, &received{}
	cs := &consumerSet{t: t}
	cs.start(brokers, "split", []string{topic}, dlq, a)
	cs.start(brokers, "split", []string{topic}, dlq, b)
	defer cs.stop()
	// Let both members join before publishing so the first does not take all.
	time.Sleep(1500 * time.Millisecond)

	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()
	const n = 200
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, envelope(t, topic, fmt.Sprintf("case-%d", i), i))
	}
	if err := pub.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all messages", func() bool { return a.len()+b.len() == n })
	if a.len() == 0 || b.len() == 0 {
		t.Fatalf("one member got everything: %d / %d", a.len(), b.len())
	}
	parts := func(r *received) map[int]bool {
		m := map[int]bool{}
		for _, msg := range r.msgs {
			m[msg.Partition] = true
		}
		return m
	}
	pa, pb := parts(a), parts(b)
	for p := range pa {
		if pb[p] {
			t.Errorf("partition %d consumed by both members", p)
		}
	}
	seen := map[string]int{}
	for _, r := range []*received{a, b} {
		for _, m := range r.msgs {
			seen[kt.Header(m, kt.HeaderEventID)]++
		}
	}
	if len(seen) != n {
		t.Fatalf("distinct events %d, want %d", len(seen), n)
	}
}

func TestPoisonMessageIsDeadLetteredAndTheNextIsProcessed(t *testing.T) {
	useTracer(t)
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 1)
	dlq := brokertest.Topic(t, brokers, 1)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()

	poison := kafka.Message{Topic: topic, Key: []byte("case-9"), Value: []byte("\xff not protobuf"),
		Headers: []kafka.Header{{Key: kt.HeaderEventID, Value: []byte("bad-1")}}}
	good := envelope(t, topic, "case-9", 2)
	ctx, span := otel.Tracer("test").Start(context.Background(), "produce")
	defer span.End()
	if err := pub.Publish(ctx, poison, good); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var applied []string
	endpoint := func(_ context.Context, req any) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, req.(*eventsv1.Envelope).EventId)
		return nil, nil
	}
	cs := &consumerSet{t: t}
	cs.start(brokers, "poison", []string{topic}, dlq, kt.NewSubscriber(endpoint, kt.DecodeEnvelopeRequest))
	waitFor(t, "the good message", func() bool { mu.Lock(); defer mu.Unlock(); return len(applied) == 1 })
	cs.stop()
	if applied[0] != "case-9-e2" {
		t.Fatalf("applied %v", applied)
	}

	dead := readAll(t, brokers, dlq, 1)
	d := dead[0]
	if string(d.Value) != string(poison.Value) || string(d.Key) != "case-9" {
		t.Fatalf("dead letter payload/key changed: %q %q", d.Key, d.Value)
	}
	checks := map[string]string{
		kt.HeaderDLQTopic: topic, kt.HeaderDLQPartition: "0", kt.HeaderDLQOffset: "0",
		kt.HeaderDLQConsumer: "poison", kt.HeaderDLQAttempts: "1", kt.HeaderEventID: "bad-1",
	}
	for k, want := range checks {
		if got := kt.Header(d, k); got != want {
			t.Errorf("dead letter header %s = %q, want %q", k, got, want)
		}
	}
	if kt.Header(d, kt.HeaderDLQError) == "" || kt.Header(d, "traceparent") == "" {
		t.Errorf("dead letter lacks error or trace header: %v", d.Headers)
	}
}

func TestTransientErrorsAreRetriedThenDeadLettered(t *testing.T) {
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 1)
	dlq := brokertest.Topic(t, brokers, 1)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()
	// e1 fails twice then succeeds; e2 always fails; e3 succeeds.
	msgs := []kafka.Message{envelope(t, topic, "c", 1), envelope(t, topic, "c", 2), envelope(t, topic, "c", 3)}
	if err := pub.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	tries := map[string]int{}
	var ok []string
	h := kt.HandlerFunc(func(_ context.Context, m kafka.Message) error {
		mu.Lock()
		defer mu.Unlock()
		id := kt.Header(m, kt.HeaderEventID)
		tries[id]++
		if (id == "c-e1" && tries[id] < 3) || id == "c-e2" {
			return errors.New("database is locked")
		}
		ok = append(ok, id)
		return nil
	})
	cs := &consumerSet{t: t}
	cs.start(brokers, "retry", []string{topic}, dlq, h)
	waitFor(t, "e3", func() bool { mu.Lock(); defer mu.Unlock(); return len(ok) == 2 })
	cs.stop()
	sort.Strings(ok)
	if fmt.Sprint(ok) != "[c-e1 c-e3]" || tries["c-e2"] != 3 {
		t.Fatalf("ok = %v, tries = %v", ok, tries)
	}
	dead := readAll(t, brokers, dlq, 1)
	if kt.Header(dead[0], kt.HeaderEventID) != "c-e2" || kt.Header(dead[0], kt.HeaderDLQAttempts) != "3" {
		t.Fatalf("dead letter = %v", dead[0].Headers)
	}
}

func readAll(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %v (got %d of %d)", topic, err, len(out), n)
		}
		out = append(out, m)
	}
	return out
}
