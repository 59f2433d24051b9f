package outbox_test

import (
	"context"
	"testing"
	"time"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// The fallback interval: short after a busy pass, doubling while the
// outbox stays empty, never past IdlePoll.
func TestRelayBacksOffWhileIdle(t *testing.T) {
	r := outbox.NewRelay(outbox.New(nil, "t"), nil, outbox.RelayConfig{Poll: 250 * time.Millisecond, IdlePoll: 2 * time.Second}, nil, nil)
	wait := 250 * time.Millisecond
	var got []time.Duration
	for range 5 {
		wait = r.NextPoll(wait, false)
		got = append(got, wait)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("idle intervals %v, want %v", got, want)
		}
	}
	if w := r.NextPoll(2*time.Second, true); w != 250*time.Millisecond {
		t.Fatalf("after a busy pass: %v, want the short interval", w)
	}
	if d := outbox.NewRelay(outbox.New(nil, "t"), nil, outbox.RelayConfig{Poll: 5 * time.Second}, nil, nil).NextPoll(5*time.Second, false); d != 5*time.Second {
		t.Fatalf("a Poll above the default IdlePoll: idle interval %v, want the Poll itself", d)
	}
}

// An idle relay asks its outbox less and less often, and still publishes a
// row no local commit announced (another replica's, on PostgreSQL).
func TestIdleRelayStillFindsUnannouncedRows(t *testing.T) {
	brokers := brokertest.Start(t)
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		db := openMigrated(t, d, dsn)
		ob, county := migratedOutbox(t, db, brokers)
		pub := publisher(t, brokers)
		relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{Poll: 10 * time.Millisecond, IdlePoll: 80 * time.Millisecond}, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- relay.Run(ctx) }()

		// 10+20+40+80+80… ms: about eight passes in 500 ms, where a fixed
		// 10 ms poll makes fifty. A slow machine makes fewer, never more.
		time.Sleep(500 * time.Millisecond)
		if n := relay.Passes(); n < 2 || n > 20 {
			t.Fatalf("%v passes over an idle outbox in 500ms, want a few (backing off to 80ms)", n)
		}

		// Another process's commit wakes only its own relay.
		other := outbox.New(db, county)
		if err := register(context.Background(), db, other, "case-unannounced"); err != nil {
			t.Fatal(err)
		}
		topic := topicOf(county, eventsv1.StreamPetitions)
		waitFor(t, "the unannounced row published", func() bool { return topicSize(t, brokers, topic) == 1 })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n, _ := ob.Pending(context.Background()); n != 0 {
			t.Fatalf("pending after the relay found the row: %d", n)
		}
	})
}
