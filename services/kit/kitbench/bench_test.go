package kitbench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/inbox"
	kt "xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
)

// producers is how many goroutines send at once, each one message per call,
// as concurrent HTTP requests would.
const producers = 32

// payload is ~1 KiB of petition text.
var payload = func() string {
	s := "某村村民反映拖欠工资问题，请求依法处理。"
	for len(s) < 1000 {
		s += "事实与理由。"
	}
	return s
}()

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B, n int, elapsed time.Duration) {
	slices.Sort(l.d)
	q := func(p float64) float64 {
		if len(l.d) == 0 {
			return 0
		}
		return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // per-op time is meaningless for a pipeline
}

// send spreads n sends over the producers; with rate > 0 the sends are
// paced to that many per second (an open-loop offered load), otherwise the
// producers send as fast as they can (saturation).
func send(n, rate int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	var tokens chan struct{}
	if rate > 0 {
		tokens = make(chan struct{}, producers)
		go func() {
			interval := time.Second / time.Duration(rate)
			start := time.Now()
			for i := 0; i < n; i++ {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				tokens <- struct{}{}
			}
			close(tokens)
		}()
	}
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if tokens != nil {
					if _, ok := <-tokens; !ok {
						return
					}
				}
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// rates are the offered loads of the benchmarks: 0 is saturation (the
// throughput figure); paced runs give the latency at a load both sustain.
var rates = []int{0, 1000}

func rateName(r int) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("rate=%d", r)
}

func BenchmarkRawKafkaGo(b *testing.B) {
	for _, r := range rates {
		b.Run(rateName(r), func(b *testing.B) { benchRaw(b, r) })
	}
}

func BenchmarkKitOutboxToInbox(b *testing.B) {
	for _, r := range rates {
		b.Run(rateName(r), func(b *testing.B) { benchKit(b, r) })
	}
}

func benchRaw(b *testing.B, rate int) {
	brokers := brokertest.Start(b)
	topic := brokertest.Topic(b, brokers, 6)
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	defer w.Close()
	r := kt.NewReader(kt.ReaderConfig{Brokers: brokers, GroupID: "raw-" + topic, Topics: []string{topic}})
	defer r.Close()
	lat := &latencies{}
	n := b.N
	done := make(chan error, 1)
	ctx := context.Background()
	go func() {
		for got := 0; got < n; got++ {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				done <- err
				return
			}
			sent, _ := strconv.ParseInt(kt.Header(m, "bench-sent"), 10, 64)
			lat.add(time.Since(time.Unix(0, sent)))
			if err := r.CommitMessages(ctx, m); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.ResetTimer()
	start := time.Now()
	err := send(n, rate, func(i int) error {
		return w.WriteMessages(ctx, kafka.Message{
			Topic: topic, Key: []byte(fmt.Sprintf("case-%d", i)), Value: []byte(payload),
			Headers: []kafka.Header{{Key: "bench-sent", Value: []byte(strconv.FormatInt(time.Now().UnixNano(), 10))}},
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, n, elapsed)
}

func benchKit(b *testing.B, rate int) {
	brokers := brokertest.Start(b)
	ctx := context.Background()
	county := fmt.Sprintf("bench%d", time.Now().UnixNano()%1_000_000)
	var topics []string
	for _, s := range eventsv1.Streams() {
		t, _ := eventsv1.Topic(county, s)
		topics = append(topics, t)
	}
	if err := kt.EnsureTopics(ctx, brokers, 6, 1, topics...); err != nil {
		b.Fatal(err)
	}
	// Producer and consumer side each have their own database, as two
	// services would.
	open := func(name string) *store.DB {
		db, err := store.Open(ctx, store.SQLite, filepath.Join(b.TempDir(), name+".db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}
	src, dst := open("intake"), open("routing")
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(src.Migrate(ctx, "outbox", outbox.Migrations))
	must(src.Migrate(ctx, "bench", []store.Migration{{Version: 1, SQL: `CREATE TABLE petitions (case_id TEXT PRIMARY KEY, body TEXT NOT NULL)`}}))
	must(dst.Migrate(ctx, "inbox", inbox.Migrations))
	must(dst.Migrate(ctx, "bench", []store.Migration{{Version: 1, SQL: `CREATE TABLE cases (case_id TEXT PRIMARY KEY, title TEXT NOT NULL)`}}))

	ob := outbox.New(src, county)
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	defer pub.Close()
	relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{}, nil, nil)
	rctx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(rctx) }()

	n := b.N
	lat := &latencies{}
	var applied atomic.Int64
	all := make(chan struct{})
	in := inbox.New(dst, "bench")
	endpoint := func(ctx context.Context, req any) (any, error) {
		env := req.(*eventsv1.Envelope)
		ok, err := in.Apply(ctx, env.EventId, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO cases (case_id, title) VALUES (?, ?)`, env.CaseId, env.GetPetitionRegistered().GetTitle())
			return err
		})
		if ok {
			lat.add(time.Since(env.OccurredAt.AsTime()))
			if applied.Add(1) == int64(n) {
				close(all)
			}
		}
		return nil, err
	}
	petitions, _ := eventsv1.Topic(county, eventsv1.StreamPetitions)
	dlq, _ := eventsv1.Topic(county, eventsv1.StreamDeadLetter)
	cons, err := kt.NewConsumer(kt.ConsumerConfig{
		Reader:          kt.ReaderConfig{Brokers: brokers, GroupID: "kit-" + county, Topics: []string{petitions}},
		DeadLetterTopic: dlq,
	}, kt.NewSubscriber(endpoint, kt.DecodeEnvelopeRequest), pub.Writer(), nil, nil)
	must(err)
	cctx, stopCons := context.WithCancel(ctx)
	consDone := make(chan error, 1)
	go func() { consDone <- cons.Run(cctx) }()

	b.ResetTimer()
	start := time.Now()
	err = send(n, rate, func(i int) error {
		caseID := fmt.Sprintf("case-%d", i)
		return src.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO petitions (case_id, body) VALUES (?, ?)`, caseID, payload); err != nil {
				return err
			}
			env := &eventsv1.Envelope{CaseId: caseID, OccurredAt: timestamppb.Now()}
			_ = env.SetPayload(&eventsv1.PetitionRegistered{Title: "欠薪", Content: &eventsv1.Content{Request: payload}, PersonCount: 1})
			return ob.Enqueue(ctx, tx, env)
		})
	})
	must(err)
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("applied %d of %d", applied.Load(), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stopCons()
	stopRelay()
	must(<-consDone)
	must(<-relayDone)
	lat.report(b, n, elapsed)
}
