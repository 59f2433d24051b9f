package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
)

func testConfig(t *testing.T, brokers []string, county string) config.Base {
	return config.Base{
		Service: "notes", County: county, HTTPAddr: "127.0.0.1:0", Brokers: brokers, CreateTopics: true, TopicPartitions: 2,
		KafkaBatch: time.Millisecond, DBDriver: "sqlite", DBDSN: filepath.Join(t.TempDir(), "notes.db"),
		LogLevel: "warn", LogFormat: "text", ShutdownTimeout: 10 * time.Second,
	}
}

var notes = []store.Migration{{Version: 1, Name: "notes", SQL: `CREATE TABLE notes (case_id TEXT PRIMARY KEY); CREATE TABLE seen (event_id TEXT NOT NULL)`}}

// toy wires a miniature service: POST /v1/notes/{id} writes a row and its
// event in one transaction; a consumer applies the events through the inbox,
// blocking while gate is closed so the test can stop the app mid-message.
type toy struct {
	a       *app.App
	gate    chan struct{}
	started chan struct{}
	handled atomic.Int32
	once    sync.Once
}

func build(t *testing.T, a *app.App) *toy {
	t.Helper()
	ctx := context.Background()
	if err := a.DB.Migrate(ctx, "notes", notes); err != nil {
		t.Fatal(err)
	}
	ty := &toy{a: a, gate: make(chan struct{}), started: make(chan struct{})}
	a.HTTP.Handle("POST /v1/notes/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		err := a.DB.InTx(r.Context(), func(tx *store.Tx) error {
			if _, err := tx.Exec(r.Context(), `INSERT INTO notes (case_id) VALUES (?)`, id); err != nil {
				return err
			}
			env := &eventsv1.Envelope{CaseId: id}
			_ = env.SetPayload(&eventsv1.PetitionRegistered{Title: "t", PersonCount: 1})
			return a.Outbox.Enqueue(r.Context(), tx, env)
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	in := inbox.New(a.DB, a.GroupID("apply"))
	endpoint := func(ctx context.Context, req any) (any, error) {
		env := req.(*eventsv1.Envelope)
		ty.once.Do(func() { close(ty.started) })
		<-ty.gate
		_, err := in.Apply(ctx, env.EventId, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO seen (event_id) VALUES (?)`, env.EventId)
			return err
		})
		ty.handled.Add(1)
		return nil, err
	}
	if err := a.Consume("apply", []eventsv1.Stream{eventsv1.StreamPetitions}, kafkatransport.NewSubscriber(endpoint, kafkatransport.DecodeEnvelopeRequest)); err != nil {
		t.Fatal(err)
	}
	return ty
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServiceServesOperationalEndpointsAndDrainsOnStop(t *testing.T) {
	brokers := brokertest.Start(t)
	cfg := testConfig(t, brokers, "tapp")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ty := build(t, a)
	if err := a.HTTP.Listen(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.HTTP.Addr()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz = %d %s", code, body)
	}
	resp, err := http.Post(base+"/v1/notes/case-1", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("post = %v, %v", resp, err)
	}
	resp.Body.Close()

	// The event reaches the consumer, which is now mid-message; stop the app.
	select {
	case <-ty.started:
	case <-time.After(20 * time.Second):
		t.Fatal("event never reached the consumer")
	}
	cancel()
	time.Sleep(200 * time.Millisecond)
	close(ty.gate) // the in-flight message now completes
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("app did not stop")
	}
	if ty.handled.Load() != 1 {
		t.Fatalf("handled %d, want the in-flight message finished", ty.handled.Load())
	}

	// Its offset was committed on the way out: a restarted service gets no
	// redelivery, and the applied row is there once.
	a2, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ty2 := build(t, a2)
	close(ty2.gate)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- a2.Run(ctx2) }()
	time.Sleep(1500 * time.Millisecond)
	cancel2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if n := ty2.handled.Load(); n != 0 {
		t.Fatalf("restarted consumer got %d redeliveries; the offset was not committed on stop", n)
	}
}

func TestMetricsExposeREDConsumerAndOutbox(t *testing.T) {
	brokers := brokertest.Start(t)
	cfg := testConfig(t, brokers, "tmet")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ty := build(t, a)
	close(ty.gate)
	if err := a.HTTP.Listen(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.HTTP.Addr()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, id := range []string{"a", "b", "a"} {
		resp, err := http.Post(base+"/v1/notes/"+id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for ty.handled.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// A poison message on the same topic is dead-lettered and counted.
	w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: brokers})
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafka.Message{Topic: a.Topic(eventsv1.StreamPetitions), Key: []byte("x"), Value: []byte("junk")}); err != nil {
		t.Fatal(err)
	}
	var body string
	want := []string{
		`xinfang_http_requests_total{code="201",method="POST",route="POST /v1/notes/{id}"} 2`,
		`xinfang_http_requests_total{code="409",method="POST",route="POST /v1/notes/{id}"} 1`,
		`xinfang_kafka_consumed_messages_total{group="xinfang.tmet.notes.apply",outcome="ok"`,
		`xinfang_kafka_dead_letters_total{group="xinfang.tmet.notes.apply"`,
		`xinfang_kafka_consumer_lag_messages{group="xinfang.tmet.notes.apply"`,
		`xinfang_outbox_published_total 2`,
		`go_sql_max_idle_closed_total{db_name="`,
	}
	for time.Now().Before(deadline) {
		_, body = get(t, base+"/metrics")
		missing := false
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = true
			}
		}
		if !missing {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	_, ready := get(t, base+"/readyz")
	var r map[string]any
	if err := json.Unmarshal([]byte(ready), &r); err != nil || r["ready"] != true {
		t.Errorf("readyz = %s", ready)
	}
}

func TestCountyComesFromTheCountyFile(t *testing.T) {
	brokers := brokertest.Start(t)
	cfg := testConfig(t, brokers, "")
	cfg.CountyFile = "../../../operator/config/samples/county_anji.yaml"
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.County != "anji" || a.CountyConfig.Current().Spec.DivisionCode != "330523" {
		t.Fatalf("county = %q", a.County)
	}
	if got := a.Topic(eventsv1.StreamCases); got != "xinfang.anji.cases" {
		t.Fatalf("topic = %q", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}

	cfg.County = "changxing"
	if _, err := app.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "changxing") {
		t.Fatalf("a county file for another county was accepted: %v", err)
	}
	cfg.CountyFile, cfg.County = "", ""
	if _, err := app.New(context.Background(), cfg); err == nil {
		t.Fatal("no county at all was accepted")
	}
}
