package routing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
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
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/kittest"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// benchPetitions are the matters the catch-up benchmark registers, in
// turn: every outcome and most of Anji's rules, with and without
// respondents (departments and officials), so decisions cost what they
// cost in a county's mix.
var benchPetitions = []struct {
	cat        eventsv1.Category
	channel    eventsv1.Channel
	persons    uint32
	township   string
	respondent string
	request    string
}{
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "dipu", "", "公司拖欠工资三个月，要求支付"},
	{pComplaint, eventsv1.Channel_CHANNEL_LETTER, 1, "meixi", "", "征地补偿款至今未到位"},
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "dipu", "安吉县住房和城乡建设局", "小区电梯长期故障，物业不管"},
	{pComplaint, eventsv1.Channel_CHANNEL_PHONE, 1, "tianzihu", "", "工厂夜间噪音扰民"},
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "", "", "孩子入学难，希望协调学位"},
	{eventsv1.Category_CATEGORY_UNSPECIFIED, eventsv1.Channel_CHANNEL_WEB, 1, "dipu", "", "建议在递铺街道增设公交站点"},
	{pAccusation, eventsv1.Channel_CHANNEL_LETTER, 1, "", "zjj", "举报县住建局某科长受贿"},
	{pAccusation, eventsv1.Channel_CHANNEL_WEB, 1, "", "住房和城乡建设局局长", "检举局长违规发包"},
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "", "", "对一审判决不服，要求重新处理"},
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "", "", "与公司发生劳动争议"},
	{pComplaint, eventsv1.Channel_CHANNEL_LETTER, 1, "", "", "长兴县某企业排污"},
	{pComplaint, eventsv1.Channel_CHANNEL_VISIT, 30, "dipu", "", "要求解决拆迁安置问题"},
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "hongxi", "", "邻县小区物业乱收费"},
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "", "", "咨询户口迁移办理流程"},
	{pComplaint, eventsv1.Channel_CHANNEL_WEB, 1, "xiaofeng", "", "土地流转租金两年未付"},
}

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkCatchUp measures how fast routing works off a backlog:
// XINFANG_BENCH_PETITIONS petition.registered events (default 2,000; the
// issue's size is 100,000) are queued on a real broker (kfake in process,
// or XINFANG_TEST_BROKERS) over 6 partitions before the routing service
// starts, with its real wiring (Build), on SQLite (XINFANG_BENCH_DB=postgres
// for PostgreSQL via XINFANG_TEST_POSTGRES_DSN). It reports
//
//   - decisions/s: petitions decided and committed (decision, case row,
//     audit, inbox and outbox row in one transaction) per second, from the
//     first message handled to the last;
//   - published/s: the same up to the last decision acknowledged by the
//     broker (the outbox relay drained);
//   - join-ms: from start until the first message (consumer group join);
//   - p50-ms / p99-ms: how long a petition's handling took (decode,
//     decide, the transaction): the duration of the batch it was part of;
//   - per-batch: petitions per transaction;
//   - cpu-µs/decision: the process's CPU time (user + system) during the
//     catch-up per petition — routing, its relay, and the in-process
//     broker when kfake is used. On a shared machine this is steadier
//     than the rates.
//
// Each iteration is a fresh county (topics, database); run it with
// -benchtime 1x.
func BenchmarkCatchUp(b *testing.B) {
	n := benchEnvInt("XINFANG_BENCH_PETITIONS", 2000)
	brokers := brokertest.Start(b)
	var decided, published, join, cpu time.Duration
	var lat []time.Duration
	batches := 0
	for range b.N {
		b.StopTimer()
		r := catchUp(b, brokers, n)
		cpu0 := kittest.CPUTime()
		b.StartTimer()
		r.run()
		b.StopTimer()
		cpu += kittest.CPUTime() - cpu0
		decided += r.decided.Sub(r.first)
		published += r.published.Sub(r.first)
		join += r.first.Sub(r.start)
		lat = append(lat, r.lat...)
		batches += r.batches
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	runs := float64(b.N)
	b.ReportMetric(float64(n)*runs/decided.Seconds(), "decisions/s")
	b.ReportMetric(float64(n)*runs/published.Seconds(), "published/s")
	b.ReportMetric(float64(join.Milliseconds())/runs, "join-ms")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat))/float64(batches), "per-batch")
	b.ReportMetric(float64(cpu.Microseconds())/(float64(n)*runs), "cpu-µs/decision")
	b.ReportMetric(0, "ns/op") // one op is a whole catch-up; the figures above say it
}

// catchUpRun is one county with a queued backlog and the routing service
// ready to start on it.
type catchUpRun struct {
	b       *testing.B
	n       int
	a       *app.App
	db      *store.DB
	ctx     context.Context
	cancel  context.CancelFunc
	handled atomic.Int64
	done    chan struct{}

	mu                               sync.Mutex
	lat                              []time.Duration
	batches                          int
	start, first, decided, published time.Time
}

func catchUp(b *testing.B, brokers []string, n int) *catchUpRun {
	b.Helper()
	dir := b.TempDir()
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	countyID := "bench-" + hex.EncodeToString(id)
	path := writeCountyFile(b, dir, edit(b, anjiYAML(b), "name: anji", "name: "+countyID))
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, testSecret, 0o600); err != nil {
		b.Fatal(err)
	}
	driver, dsn := store.SQLite, storetest.SQLiteDSN(b)
	if os.Getenv("XINFANG_BENCH_DB") == "postgres" {
		driver, dsn = store.Postgres, storetest.PostgresSchemaDSN(b)
	}
	const partitions = 6
	petitions, err := eventsv1.Topic(countyID, eventsv1.StreamPetitions)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var topics []string
	for _, s := range eventsv1.Streams() {
		t, _ := eventsv1.Topic(countyID, s)
		topics = append(topics, t)
	}
	if err := kafkatransport.EnsureTopics(ctx, brokers, partitions, 1, topics...); err != nil {
		b.Fatal(err)
	}

	// The backlog.
	w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: brokers, BatchSize: 1000})
	defer w.Close()
	at := timestamppb.New(received)
	batch := make([]kafka.Message, 0, 1000)
	flush := func() {
		if err := w.WriteMessages(ctx, batch...); err != nil {
			b.Fatalf("queue petitions: %v", err)
		}
		batch = batch[:0]
	}
	for i := range n {
		p := benchPetitions[i%len(benchPetitions)]
		caseID := fmt.Sprintf("BENCH-%07d", i)
		env := &eventsv1.Envelope{EventId: outbox.NewEventID(), County: countyID, CaseId: caseID, OccurredAt: at, RecordedAt: at,
			SchemaVersion: eventsv1.SchemaVersion, Actor: &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_CLERK, Id: "clerk-1"}}
		reg := &eventsv1.PetitionRegistered{
			Channel: p.channel, PetitionerKeys: []string{fmt.Sprintf("k%d", i%5000)}, PersonCount: p.persons, Group: p.persons >= 5,
			Township: p.township, Title: "来信" + strconv.Itoa(i), CategoryHint: p.cat, Respondent: p.respondent,
			Content:    &eventsv1.Content{Request: p.request, Facts: "事实经过：" + strconv.Itoa(i) + "号来信所述情况属实，已持续数月。", Reasons: "依法应予处理。"},
			ReceivedAt: at, RoutingDue: "2026-03-09",
		}
		if i%20 == 19 {
			reg.RepeatOf = fmt.Sprintf("BENCH-%07d", i-15) // a repeat of an earlier matter
		}
		if err := env.SetPayload(reg); err != nil {
			b.Fatal(err)
		}
		msg, err := kafkatransport.EncodeEnvelope(petitions, env)
		if err != nil {
			b.Fatal(err)
		}
		if batch = append(batch, msg); len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}

	cfg := config.Base{
		Service: "routing", CountyFile: path, HTTPAddr: "127.0.0.1:0", Brokers: brokers, CreateTopics: true,
		TopicPartitions: partitions, KafkaBatch: 2 * time.Millisecond, DBDriver: string(driver), DBDSN: dsn,
		LogLevel: "error", LogFormat: "text", ShutdownTimeout: 10 * time.Second, AuthHS256SecretFile: secretFile,
	}
	r := &catchUpRun{b: b, n: n, done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if r.a, err = app.New(r.ctx, cfg); err != nil {
		b.Fatal(err)
	}
	r.db = r.a.DB
	wrap := func(h kafkatransport.BatchHandler) kafkatransport.BatchHandler {
		return &timedHandler{BatchHandler: h, r: r, topic: petitions}
	}
	if _, err := build(r.ctx, r.a, func() time.Time { return testNow }, wrap); err != nil {
		b.Fatal(err)
	}
	if err := r.a.HTTP.Listen(); err != nil {
		b.Fatal(err)
	}
	return r
}

// run starts routing on the backlog and returns once every petition is
// decided and every decision published; then it stops the service.
func (r *catchUpRun) run() {
	b := r.b
	stopped := make(chan error, 1)
	r.start = time.Now()
	go func() { stopped <- r.a.Run(r.ctx) }()
	deadline := time.After(30 * time.Minute)
	select {
	case <-r.done:
	case err := <-stopped:
		b.Fatalf("routing stopped during catch-up: %v", err)
	case <-deadline:
		b.Fatalf("catch-up: %d of %d decided after 30 minutes", r.handled.Load(), r.n)
	}
	// Then the relay: every decision acknowledged by the broker.
	for {
		var all int
		unsent, err := outbox.New(r.db, "").Pending(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := r.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM outbox`).Scan(&all); err != nil {
			b.Fatal(err)
		}
		if unsent == 0 && all >= r.n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.published = time.Now()
	r.cancel()
	if err := <-stopped; err != nil {
		b.Errorf("routing stopped with %v", err)
	}
}

// timedHandler times the petitions consumer's batches (and single
// messages, when a batch falls back) and notices the last decision.
type timedHandler struct {
	kafkatransport.BatchHandler
	r     *catchUpRun
	topic string
}

func (t *timedHandler) Handle(ctx context.Context, msg kafka.Message) error {
	t0 := time.Now()
	err := t.BatchHandler.Handle(ctx, msg)
	if err == nil && msg.Topic == t.topic {
		t.r.decidedAt(t0, 1)
	}
	return err
}

func (t *timedHandler) HandleBatch(ctx context.Context, batch []kafkatransport.Delivery) error {
	t0 := time.Now()
	err := t.BatchHandler.HandleBatch(ctx, batch)
	if err == nil && len(batch) > 0 && batch[0].Message.Topic == t.topic {
		t.r.decidedAt(t0, len(batch))
	}
	return err
}

// decidedAt records n petitions decided by work that started at t0: each
// waited for the whole batch, so each gets its duration as latency.
func (r *catchUpRun) decidedAt(t0 time.Time, n int) {
	d := time.Since(t0)
	r.mu.Lock()
	if r.first.IsZero() {
		r.first = t0
	}
	for range n {
		r.lat = append(r.lat, d)
	}
	r.batches++
	r.mu.Unlock()
	if r.handled.Add(int64(n)) == int64(r.n) {
		r.mu.Lock()
		r.decided = time.Now()
		r.mu.Unlock()
		close(r.done)
	}
}
