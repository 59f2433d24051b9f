package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
)

// ConsumeInTx applies fetched runs of messages in one transaction: each
// event once (duplicates in the same run too), a poison message
// dead-lettered alone while the rest of its run applies, a handler's
// plain reads see what the earlier messages of its run wrote, and the
// writes of a transaction that failed are never kept, even when its
// handler swallowed the failure.
func TestConsumeInTxAppliesRunsOnceAndIsolatesPoison(t *testing.T) {
	const poisonAt, swallowAt = 150, 220
	brokers := brokertest.Start(t)
	cfg := testConfig(t, brokers, "tbatch")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Migrate(ctx, "notes", notes); err != nil {
		t.Fatal(err)
	}
	in := inbox.New(a.DB, a.GroupID("batch"))
	var mu sync.Mutex
	stale := 0 // plain reads that missed a row written earlier in the same run
	endpoint := func(ctx context.Context, req any) (any, error) {
		env := req.(*eventsv1.Envelope)
		if env.CaseId == "poison" {
			return nil, kafkatransport.Permanent(fmt.Errorf("poison %s", env.EventId))
		}
		// A read through the database handle, not a transaction: the
		// previous event (same partition, so handled before) must show,
		// whether it committed or is an earlier write of this run.
		var i, n int
		fmt.Sscanf(env.EventId, "ev-%d", &i)
		if i > 0 && i-1 != poisonAt {
			if err := a.DB.QueryRow(ctx, `SELECT COUNT(*) FROM seen WHERE event_id = ?`, fmt.Sprintf("ev-%d", i-1)).Scan(&n); err != nil {
				return nil, err
			}
			if n != 1 {
				mu.Lock()
				stale++
				mu.Unlock()
			}
		}
		if i == swallowAt {
			failed := a.DB.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO notes (case_id) VALUES (?)`, "partial-"+env.EventId); err != nil {
					return err
				}
				return errors.New("gives up after a write")
			})
			if failed == nil {
				return nil, errors.New("the failing transaction reported no failure")
			}
		}
		_, err := in.Apply(ctx, env.EventId, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO seen (event_id) VALUES (?)`, env.EventId)
			return err
		})
		return nil, err
	}
	h := kafkatransport.NewSubscriber(endpoint, kafkatransport.DecodeEnvelopeRequest)
	if err := a.ConsumeInTx("batch", []eventsv1.Stream{eventsv1.StreamPetitions}, h, app.BatchOptions{MaxBatch: 64, Linger: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// Everything is queued before the consumer starts, so runs are full.
	w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: brokers})
	defer w.Close()
	var msgs []kafka.Message
	const events = 300
	for i := 0; i < events; i++ {
		caseID := "case-1"
		if i == poisonAt {
			caseID = "poison"
		}
		env := &eventsv1.Envelope{EventId: fmt.Sprintf("ev-%d", i), CaseId: caseID, County: "tbatch"}
		if err := env.SetPayload(&eventsv1.PetitionRegistered{Title: "t", PersonCount: 1}); err != nil {
			t.Fatal(err)
		}
		m, err := kafkatransport.EncodeEnvelope(a.Topic(eventsv1.StreamPetitions), env)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
		if i%10 == 1 { // a redelivered copy right behind it
			msgs = append(msgs, m)
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(30 * time.Second)
	var n int
	for time.Now().Before(deadline) {
		if err := a.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM seen`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= events-1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // nothing more may arrive
	var distinct int
	if err := a.DB.QueryRow(context.Background(), `SELECT COUNT(*), COUNT(DISTINCT event_id) FROM seen`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != events-1 || distinct != events-1 {
		t.Fatalf("seen %d rows (%d distinct), want %d: every event but the poison, once", n, distinct, events-1)
	}
	var partial int
	if err := a.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM notes WHERE case_id LIKE 'partial-%'`).Scan(&partial); err != nil {
		t.Fatal(err)
	}
	if partial != 0 {
		t.Fatalf("%d writes of a failed transaction kept", partial)
	}
	if stale != 0 {
		t.Fatalf("%d reads missed their own run's writes", stale)
	}
	metrics := a.Registry
	families, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var batches, batched float64
	deadLetters := 0.0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "xinfang_kafka_consume_batch_messages":
				batches += float64(m.GetHistogram().GetSampleCount())
				batched += m.GetHistogram().GetSampleSum()
			case "xinfang_kafka_dead_letters_total":
				deadLetters += m.GetCounter().GetValue()
			}
		}
	}
	if deadLetters != 1 {
		t.Fatalf("dead letters = %v, want the poison alone", deadLetters)
	}
	if batches == 0 || batched/batches < 2 {
		t.Fatalf("%v messages in %v runs: not batched", batched, batches)
	}
}
