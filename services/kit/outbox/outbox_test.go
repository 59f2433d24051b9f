package outbox_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
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
	"xinfang.io/services/kit/storetest"
)

// The crash tests re-run this test binary as a child process that does one
// step and then SIGKILLs itself, so the crash is a real one: no deferred
// cleanup, no flushed buffers, no graceful close.
const roleEnv = "XINFANG_OUTBOX_CRASH_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		if err := crashChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(3) // unreachable: the child kills itself
	}
	os.Exit(m.Run())
}

var domain = []store.Migration{{Version: 1, Name: "petitions", SQL: `CREATE TABLE petitions (case_id TEXT PRIMARY KEY)`}}

func migrate(ctx context.Context, db *store.DB) error {
	for comp, ms := range map[string][]store.Migration{"outbox": outbox.Migrations, "inbox": inbox.Migrations, "domain": domain} {
		if err := db.Migrate(ctx, comp, ms); err != nil {
			return err
		}
	}
	return nil
}

// register is a domain write and its event, committed together.
func register(ctx context.Context, db *store.DB, ob *outbox.Outbox, caseID string) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO petitions (case_id) VALUES (?)`, caseID); err != nil {
			return err
		}
		env := &eventsv1.Envelope{CaseId: caseID, OccurredAt: timestamppb.Now()}
		if err := env.SetPayload(&eventsv1.PetitionRegistered{Title: "欠薪", PersonCount: 1}); err != nil {
			return err
		}
		return ob.Enqueue(ctx, tx, env)
	})
}

func crashChild(role string) error {
	ctx := context.Background()
	d, _ := store.ParseDialect(os.Getenv("XINFANG_DIALECT"))
	db, err := store.Open(ctx, d, os.Getenv("XINFANG_DSN"))
	if err != nil {
		return err
	}
	if err := migrate(ctx, db); err != nil {
		return err
	}
	county := os.Getenv("XINFANG_COUNTY")
	ob := outbox.New(db, county)
	if err := register(ctx, db, ob, "case-1"); err != nil {
		return err
	}
	kill := func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	switch role {
	case "after-commit":
		kill() // committed, never published
	case "after-publish":
		w := kt.NewWriter(kt.WriterConfig{Brokers: strings.Split(os.Getenv("XINFANG_BROKERS"), ",")})
		relay := outbox.NewRelay(ob, kt.NewPublisher(w, nil), outbox.RelayConfig{}, nil, nil)
		relay.SetAfterPublish(kill) // published, never marked sent
		if _, err := relay.Drain(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("role %q did not crash", role)
}

func runCrashChild(t *testing.T, role string, d store.Dialect, dsn, county string, brokers []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, "XINFANG_DIALECT="+string(d), "XINFANG_DSN="+dsn,
		"XINFANG_COUNTY="+county, "XINFANG_BROKERS="+strings.Join(brokers, ","))
	out, err := cmd.CombinedOutput()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
}

func newCounty(t *testing.T, brokers []string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	county := "t" + hex.EncodeToString(b)
	var topics []string
	for _, s := range eventsv1.Streams() {
		topic, _ := eventsv1.Topic(county, s)
		topics = append(topics, topic)
	}
	if err := kt.EnsureTopics(context.Background(), brokers, 2, 1, topics...); err != nil {
		t.Fatal(err)
	}
	return county
}

func topicOf(county string, s eventsv1.Stream) string { t, _ := eventsv1.Topic(county, s); return t }

// applier consumes a county's petitions with an inbox and counts deliveries
// and applications.
type applier struct {
	mu                 sync.Mutex
	delivered, applied int
}

func (a *applier) run(t *testing.T, db *store.DB, brokers []string, county string) (stop func()) {
	t.Helper()
	in := inbox.New(db, "test-consumer")
	endpoint := func(ctx context.Context, req any) (any, error) {
		env := req.(*eventsv1.Envelope)
		ok, err := in.Apply(ctx, env.EventId, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO applied (event_id) VALUES (?)`, env.EventId)
			return err
		})
		a.mu.Lock()
		a.delivered++
		if ok {
			a.applied++
		}
		a.mu.Unlock()
		return nil, err
	}
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	c, err := kt.NewConsumer(kt.ConsumerConfig{
		Reader:          kt.ReaderConfig{Brokers: brokers, GroupID: "test-consumer-" + county, Topics: []string{topicOf(county, eventsv1.StreamPetitions)}},
		DeadLetterTopic: topicOf(county, eventsv1.StreamDeadLetter),
	}, kt.NewSubscriber(endpoint, kt.DecodeEnvelopeRequest), w, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); w.Close(); close(done) }()
	return func() { cancel(); <-done }
}

func (a *applier) counts() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.delivered, a.applied
}

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

func openMigrated(t *testing.T, d store.Dialect, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), d, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS applied (event_id TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func countRows(t *testing.T, db *store.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func topicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	resp, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range resp.Topics[topic] {
		n += p.LastOffset
	}
	return n
}

func TestCrashBetweenCommitAndPublishLosesNothing(t *testing.T) {
	brokers := brokertest.Start(t)
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		county := newCounty(t, brokers)
		runCrashChild(t, "after-commit", d, dsn, county, brokers)

		db := openMigrated(t, d, dsn)
		if n := countRows(t, db, `SELECT COUNT(*) FROM petitions`); n != 1 {
			t.Fatalf("domain rows after crash = %d, want 1", n)
		}
		ob := outbox.New(db, county)
		if n, _ := ob.Pending(context.Background()); n != 1 {
			t.Fatalf("pending after crash = %d, want 1", n)
		}
		if n := topicSize(t, brokers, topicOf(county, eventsv1.StreamPetitions)); n != 0 {
			t.Fatalf("topic has %d messages before the relay ran", n)
		}
		// The restarted service's relay publishes the row.
		pub := publisher(t, brokers)
		ctx, cancel := context.WithCancel(context.Background())
		relayDone := make(chan error, 1)
		go func() {
			relayDone <- outbox.NewRelay(ob, pub, outbox.RelayConfig{Poll: 20 * time.Millisecond}, nil, nil).Run(ctx)
		}()
		a := &applier{}
		stop := a.run(t, db, brokers, county)
		waitFor(t, "the event applied", func() bool { _, ap := a.counts(); return ap == 1 })
		time.Sleep(300 * time.Millisecond)
		stop()
		cancel()
		if err := <-relayDone; err != nil {
			t.Fatal(err)
		}
		if del, ap := a.counts(); del != 1 || ap != 1 {
			t.Fatalf("delivered %d applied %d, want 1 and 1", del, ap)
		}
		if n, _ := ob.Pending(context.Background()); n != 0 {
			t.Fatalf("pending after relay = %d", n)
		}
	})
}

func TestCrashBetweenPublishAndMarkIsAppliedOnce(t *testing.T) {
	brokers := brokertest.Start(t)
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		county := newCounty(t, brokers)
		runCrashChild(t, "after-publish", d, dsn, county, brokers)

		db := openMigrated(t, d, dsn)
		ob := outbox.New(db, county)
		if n, _ := ob.Pending(context.Background()); n != 1 {
			t.Fatalf("pending after crash = %d, want 1 (published but not marked)", n)
		}
		pub := publisher(t, brokers)
		n, err := outbox.NewRelay(ob, pub, outbox.RelayConfig{}, nil, nil).Drain(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("drain after restart = %d, %v", n, err)
		}
		if size := topicSize(t, brokers, topicOf(county, eventsv1.StreamPetitions)); size != 2 {
			t.Fatalf("topic holds %d messages, want the event twice", size)
		}
		a := &applier{}
		stop := a.run(t, db, brokers, county)
		waitFor(t, "both copies delivered", func() bool { del, _ := a.counts(); return del == 2 })
		stop()
		if _, ap := a.counts(); ap != 1 {
			t.Fatalf("applied %d times, want once", ap)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM applied`); n != 1 {
			t.Fatalf("applied rows = %d, want 1", n)
		}
	})
}

// publisher publishes to brokers until the test ends.
func publisher(t *testing.T, brokers []string) *kt.Publisher {
	pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
	t.Cleanup(func() { pub.Close() })
	return pub
}

// migratedOutbox migrates db and returns the outbox of a new county.
func migratedOutbox(t *testing.T, db *store.DB, brokers []string) (*outbox.Outbox, string) {
	t.Helper()
	if err := migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	county := newCounty(t, brokers)
	return outbox.New(db, county), county
}

func TestEnqueuePublishesEveryCommittedEventOnceAndRollbackLeavesNothing(t *testing.T) {
	brokers := brokertest.Start(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ob, county := migratedOutbox(t, db, brokers)
		for i := 0; i < 5; i++ {
			if err := register(ctx, db, ob, fmt.Sprintf("case-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		// A failed domain write takes its event with it.
		if err := register(ctx, db, ob, "case-0"); err == nil {
			t.Fatal("duplicate case id accepted")
		}
		if n, _ := ob.Pending(ctx); n != 5 {
			t.Fatalf("pending = %d, want 5", n)
		}
		// An event for another county is refused.
		err := db.InTx(ctx, func(tx *store.Tx) error {
			env := &eventsv1.Envelope{CaseId: "x", County: "other"}
			_ = env.SetPayload(&eventsv1.CaseClosed{})
			return ob.Enqueue(ctx, tx, env)
		})
		if err == nil {
			t.Fatal("cross-county event accepted")
		}
		pub := publisher(t, brokers)
		relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{Batch: 2}, nil, nil)
		if n, err := relay.Drain(ctx); err != nil || n != 5 {
			t.Fatalf("drain = %d, %v", n, err)
		}
		if n, err := relay.Drain(ctx); err != nil || n != 0 {
			t.Fatalf("second drain = %d, %v; want nothing", n, err)
		}
		// Purge keeps recently sent rows.
		if err := relay.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM outbox`); n != 5 {
			t.Fatalf("rows after purge = %d, want 5 within retention", n)
		}
		if size := topicSize(t, brokers, topicOf(county, eventsv1.StreamPetitions)); size != 5 {
			t.Fatalf("topic size = %d", size)
		}
	})
}
