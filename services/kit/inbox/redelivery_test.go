package inbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
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
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// A child process consumes with an inbox, applies some events and is
// SIGKILLed before its offsets are committed; the group's next member gets
// the messages again and the inbox applies each event exactly once.
const childEnv = "XINFANG_INBOX_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		err := consumeAndDie()
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

type counter struct {
	mu                 sync.Mutex
	delivered, applied int
}

func consumer(db *store.DB, brokers []string, topic, dlq string, commitInterval time.Duration, onApplied func(n int), c *counter) (*kt.Consumer, *kafka.Writer, error) {
	in := inbox.New(db, "redelivery")
	endpoint := func(ctx context.Context, req any) (any, error) {
		env := req.(*eventsv1.Envelope)
		ok, err := in.Apply(ctx, env.EventId, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO applied (event_id) VALUES (?)`, env.EventId)
			return err
		})
		c.mu.Lock()
		c.delivered++
		if ok {
			c.applied++
		}
		n := c.applied
		c.mu.Unlock()
		if ok && onApplied != nil {
			onApplied(n)
		}
		return nil, err
	}
	w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
	cons, err := kt.NewConsumer(kt.ConsumerConfig{
		Reader:          kt.ReaderConfig{Brokers: brokers, GroupID: "redelivery-" + topic, Topics: []string{topic}, CommitInterval: commitInterval},
		DeadLetterTopic: dlq,
	}, kt.NewSubscriber(endpoint, kt.DecodeEnvelopeRequest), w, nil, nil)
	return cons, w, err
}

func consumeAndDie() error {
	ctx := context.Background()
	d, _ := store.ParseDialect(os.Getenv("XINFANG_DIALECT"))
	db, err := store.Open(ctx, d, os.Getenv("XINFANG_DSN"))
	if err != nil {
		return err
	}
	killAt, _ := strconv.Atoi(os.Getenv("XINFANG_KILL_AT"))
	// Commits only every hour: the kill lands before any offset is committed.
	cons, _, err := consumer(db, strings.Split(os.Getenv("XINFANG_BROKERS"), ","), os.Getenv("XINFANG_TOPIC"), os.Getenv("XINFANG_DLQ"),
		time.Hour, func(n int) {
			if n == killAt {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}, &counter{})
	if err != nil {
		return err
	}
	return cons.Run(ctx)
}

func TestConsumerKilledBeforeCommitIsRedeliveredAndAppliedOnce(t *testing.T) {
	brokers := brokertest.Start(t)
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		ctx := context.Background()
		db, err := store.Open(ctx, d, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		setup(t, db)
		topic := brokertest.Topic(t, brokers, 2)
		dlq := brokertest.Topic(t, brokers, 1)
		const n, killAt = 20, 7
		w := kt.NewWriter(kt.WriterConfig{Brokers: brokers})
		defer w.Close()
		var msgs []kafka.Message
		for i := 0; i < n; i++ {
			env := &eventsv1.Envelope{EventId: fmt.Sprintf("e%02d", i), County: "anji", CaseId: fmt.Sprintf("c%d", i%5), OccurredAt: timestamppb.Now()}
			_ = env.SetPayload(&eventsv1.CaseAccepted{Department: "rsj"})
			m, err := kt.EncodeEnvelope(topic, env)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "XINFANG_DIALECT="+string(d), "XINFANG_DSN="+dsn,
			"XINFANG_BROKERS="+strings.Join(brokers, ","), "XINFANG_TOPIC="+topic, "XINFANG_DLQ="+dlq,
			"XINFANG_KILL_AT="+strconv.Itoa(killAt))
		out, _ := cmd.CombinedOutput()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die by SIGKILL:\n%s", out)
		}
		if got := count(t, db); got != killAt {
			t.Fatalf("child applied %d, want %d", got, killAt)
		}

		// The group's next member takes over after the dead member's session
		// times out, and sees every message again: nothing was committed.
		c := &counter{}
		cons, cw, err := consumer(db, brokers, topic, dlq, 0, nil, c)
		if err != nil {
			t.Fatal(err)
		}
		defer cw.Close()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cons.Run(runCtx) }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			c.mu.Lock()
			del := c.delivered
			c.mu.Unlock()
			if del >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redelivered %d of %d", del, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if c.delivered != n || c.applied != n-killAt {
			t.Fatalf("second member: delivered %d applied %d; want %d and %d", c.delivered, c.applied, n, n-killAt)
		}
		if got := count(t, db); got != n {
			t.Fatalf("applied rows = %d, want %d (each event once)", got, n)
		}
		var distinct int
		if err := db.QueryRow(ctx, `SELECT COUNT(DISTINCT event_id) FROM applied`).Scan(&distinct); err != nil || distinct != n {
			t.Fatalf("distinct applied = %d, %v", distinct, err)
		}
	})
}
