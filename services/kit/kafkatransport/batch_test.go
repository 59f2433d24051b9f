package kafkatransport_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"xinfang.io/services/kit/brokertest"
	kt "xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// batchChildEnv makes the test binary a batch consumer that dies by
// SIGKILL between its database commit and its offset commit.
const batchChildEnv = "XINFANG_BATCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(batchChildEnv) != "" {
		err := batchConsumeAndDie()
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// ledger is a batch handler that applies messages to a database the way
// a service does: each batch in one transaction, each event id once (a
// table of seen ids), all or nothing.
type ledger struct {
	db        *store.DB
	mu        sync.Mutex
	batches   [][]string // event ids of each successful batch
	singles   []string   // event ids applied one at a time (the fallback)
	delivered int
	// poison names event ids the handler refuses (permanently).
	poison map[string]bool
	// afterCommit runs after a batch's transaction committed.
	afterCommit func(batch int)
}

func newLedger(t testing.TB, db *store.DB) *ledger {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), `CREATE TABLE IF NOT EXISTS applied (event_id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return &ledger{db: db, poison: map[string]bool{}}
}

func (l *ledger) apply(ctx context.Context, tx *store.Tx, m kafka.Message) error {
	env, err := kt.DecodeEnvelope(m)
	if err != nil {
		return kt.Permanent(err)
	}
	if l.poison[env.GetEventId()] {
		return kt.Permanent(fmt.Errorf("event %s refused", env.GetEventId()))
	}
	_, err = tx.Exec(ctx, `INSERT INTO applied (event_id) VALUES (?) ON CONFLICT DO NOTHING`, env.GetEventId())
	return err
}

func (l *ledger) Handle(ctx context.Context, m kafka.Message) error {
	err := l.db.InTx(ctx, func(tx *store.Tx) error { return l.apply(ctx, tx, m) })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delivered++
	if err == nil {
		l.singles = append(l.singles, kt.Header(m, kt.HeaderEventID))
	}
	return err
}

func (l *ledger) HandleBatch(ctx context.Context, batch []kt.Delivery) error {
	err := l.db.InTx(ctx, func(tx *store.Tx) error {
		for _, d := range batch {
			if err := l.apply(d.Context, tx, d.Message); err != nil {
				return err
			}
		}
		return nil
	})
	l.mu.Lock()
	l.delivered += len(batch)
	n := len(l.batches)
	if err == nil {
		ids := make([]string, len(batch))
		for i, d := range batch {
			ids[i] = kt.Header(d.Message, kt.HeaderEventID)
		}
		l.batches = append(l.batches, ids)
	}
	l.mu.Unlock()
	if err == nil && l.afterCommit != nil {
		l.afterCommit(n + 1)
	}
	return err
}

func (l *ledger) counts() (delivered, batched, singles int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		batched += len(b)
	}
	return l.delivered, batched, len(l.singles)
}

func appliedRows(t testing.TB, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM applied`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func runBatchConsumer(t testing.TB, brokers []string, group, topic, dlq string, maxBatch int, linger time.Duration,
	commitInterval time.Duration, h kt.BatchHandler) (stop func()) {
	t.Helper()
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	c, err := kt.NewBatchConsumer(kt.BatchConsumerConfig{
		ConsumerConfig: kt.ConsumerConfig{
			Reader:          kt.ReaderConfig{Brokers: brokers, GroupID: group, Topics: []string{topic}, CommitInterval: commitInterval},
			DeadLetterTopic: dlq, MaxAttempts: 3, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		},
		MaxBatch: maxBatch, Linger: linger,
	}, h, w, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx); w.Close() }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("batch consumer: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("batch consumer did not stop")
		}
	}
}

func TestBatchWithPoisonFallsBackToOneAtATime(t *testing.T) {
	rec, tp := useTracer(t)
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 1)
	dlq := brokertest.Topic(t, brokers, 1)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()
	l := newLedger(t, storetest.SQLite(t))

	// One run: two good events, a message that does not decode, two good,
	// one the handler refuses, one good — all fetched into one batch.
	malformed := kafka.Message{Topic: topic, Key: []byte("c"), Value: []byte("\xff not protobuf"),
		Headers: []kafka.Header{{Key: kt.HeaderEventID, Value: []byte("bad-decode")}}}
	msgs := []kafka.Message{envelope(t, topic, "c", 1), envelope(t, topic, "c", 2), malformed,
		envelope(t, topic, "c", 3), envelope(t, topic, "c", 4), envelope(t, topic, "c", 5), envelope(t, topic, "c", 6)}
	l.poison["c-e5"] = true
	ctx, root := tp.Tracer("test").Start(context.Background(), "produce")
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	root.End()

	stop := runBatchConsumer(t, brokers, "poison-batch", topic, dlq, 100, 300*time.Millisecond, 0, l)
	waitFor(t, "the good events", func() bool { _, _, s := l.counts(); return s == 5 })
	// A later run goes through the batch path again.
	later := []kafka.Message{envelope(t, topic, "d", 1), envelope(t, topic, "d", 2), envelope(t, topic, "d", 3)}
	if err := pub.Publish(context.Background(), later...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the later batch", func() bool { _, b, _ := l.counts(); return b == 3 })
	stop()

	if fmt.Sprint(l.singles) != "[c-e1 c-e2 c-e3 c-e4 c-e6]" {
		t.Errorf("applied one at a time: %v, want the good events in order", l.singles)
	}
	if len(l.batches) != 1 || fmt.Sprint(l.batches[0]) != "[d-e1 d-e2 d-e3]" {
		t.Errorf("batches %v, want only the later run", l.batches)
	}
	if n := appliedRows(t, l.db); n != 8 {
		t.Errorf("%d events applied, want 8 (the failed batch left nothing)", n)
	}
	dead := readAll(t, brokers, dlq, 2)
	for i, want := range []struct{ id, offset, attempts string }{{"bad-decode", "2", "1"}, {"c-e5", "5", "1"}} {
		d := dead[i]
		if kt.Header(d, kt.HeaderEventID) != want.id || kt.Header(d, kt.HeaderDLQOffset) != want.offset ||
			kt.Header(d, kt.HeaderDLQAttempts) != want.attempts || kt.Header(d, kt.HeaderDLQConsumer) != "poison-batch" ||
			kt.Header(d, kt.HeaderDLQError) == "" || kt.Header(d, "traceparent") == "" {
			t.Errorf("dead letter %d: %v, want %s at offset %s", i, d.Headers, want.id, want.offset)
		}
	}

	// Every message of the later batch has its own consumer span, a child
	// of its producer span; the batch span links every producer.
	var batchSpan sdktrace.ReadOnlySpan
	perMessage := map[string]sdktrace.ReadOnlySpan{}
	producers := map[trace.SpanID]bool{}
	for _, s := range rec.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindProducer:
			producers[s.SpanContext().SpanID()] = true
		case s.Name() == "process batch":
			batchSpan = s
		case s.SpanKind() == trace.SpanKindConsumer:
			for _, a := range s.Attributes() {
				if a.Key == "messaging.message.id" && strings.HasPrefix(a.Value.AsString(), "d-") {
					perMessage[a.Value.AsString()] = s
				}
			}
		}
	}
	if len(perMessage) != 3 {
		t.Fatalf("consumer spans of the later batch: %d, want 3", len(perMessage))
	}
	for id, s := range perMessage {
		if !producers[s.Parent().SpanID()] || len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != s.Parent().SpanID() {
			t.Errorf("span of %s: parent %v links %v; want its producer span as parent and link", id, s.Parent(), s.Links())
		}
	}
	if batchSpan == nil || len(batchSpan.Links()) != 3 {
		t.Errorf("batch span %v: want one linking the 3 producers", batchSpan)
	}
}

func TestBatchesAreCommittedAndNotRedelivered(t *testing.T) {
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 2)
	dlq := brokertest.Topic(t, brokers, 1)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()
	l := newLedger(t, storetest.SQLite(t))
	var msgs []kafka.Message
	for i := range 200 {
		msgs = append(msgs, envelope(t, topic, fmt.Sprintf("case-%d", i%17), i))
	}
	if err := pub.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	stop := runBatchConsumer(t, brokers, "committed", topic, dlq, 50, 20*time.Millisecond, 0, l)
	waitFor(t, "all events", func() bool { _, b, _ := l.counts(); return b == 200 })
	stop()
	if len(l.batches) < 4 {
		t.Errorf("%d batches for 200 messages of at most 50", len(l.batches))
	}
	for _, b := range l.batches {
		if len(b) > 50 {
			t.Errorf("a batch of %d > MaxBatch 50", len(b))
		}
	}
	// The next member of the group starts after the committed offsets.
	again := newLedger(t, l.db)
	stop = runBatchConsumer(t, brokers, "committed", topic, dlq, 50, 20*time.Millisecond, 0, again)
	time.Sleep(1500 * time.Millisecond)
	stop()
	if d, _, _ := again.counts(); d != 0 {
		t.Errorf("%d messages redelivered after their batches were committed", d)
	}
}

// batchConsumeAndDie is the child: it applies batches of at most 5 into
// the database and SIGKILLs itself right after the third batch's
// transaction committed, before its offsets are (offsets are committed
// only every hour, so none of them are).
func batchConsumeAndDie() error {
	ctx := context.Background()
	db, err := store.Open(ctx, store.SQLite, os.Getenv("XINFANG_DSN"))
	if err != nil {
		return err
	}
	l := &ledger{db: db, poison: map[string]bool{}}
	l.afterCommit = func(batch int) {
		if batch == 3 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	brokers := strings.Split(os.Getenv("XINFANG_BROKERS"), ",")
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	c, err := kt.NewBatchConsumer(kt.BatchConsumerConfig{
		ConsumerConfig: kt.ConsumerConfig{
			Reader:          kt.ReaderConfig{Brokers: brokers, GroupID: "killed", Topics: []string{os.Getenv("XINFANG_TOPIC")}, CommitInterval: time.Hour},
			DeadLetterTopic: os.Getenv("XINFANG_DLQ"),
		},
		MaxBatch: 5, Linger: 50 * time.Millisecond,
	}, l, w, nil, nil)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

func TestBatchConsumerKilledBeforeCommitIsRedeliveredAndAppliedOnce(t *testing.T) {
	brokers := brokertest.Start(t)
	topic := brokertest.Topic(t, brokers, 1)
	dlq := brokertest.Topic(t, brokers, 1)
	dsn := storetest.SQLiteDSN(t)
	db, err := store.Open(context.Background(), store.SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newLedger(t, db)
	const n = 40
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, envelope(t, topic, fmt.Sprintf("c%d", i%7), i))
	}
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), batchChildEnv+"=1", "XINFANG_DSN="+dsn, "XINFANG_BROKERS="+strings.Join(brokers, ","),
		"XINFANG_TOPIC="+topic, "XINFANG_DLQ="+dlq)
	out, _ := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL:\n%s", out)
	}
	killedAfter := appliedRows(t, db)
	if killedAfter < 3 || killedAfter > 15 {
		t.Fatalf("the child applied %d events in its three batches of at most 5", killedAfter)
	}

	// The group's next member gets every message again (nothing was
	// committed); the database's dedupe applies each event once.
	l := newLedger(t, db)
	stop := runBatchConsumer(t, brokers, "killed", topic, dlq, 5, 20*time.Millisecond, 0, l)
	waitFor(t, "the redelivered messages", func() bool { d, _, _ := l.counts(); return d >= n })
	stop()
	if d, _, _ := l.counts(); d != n {
		t.Errorf("second member: %d deliveries, want all %d again", d, n)
	}
	if got := appliedRows(t, db); got != n {
		t.Errorf("%d events applied, want %d, each once", got, n)
	}
}
