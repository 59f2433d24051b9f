package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/brokertest"
	kt "xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// A database of the first outbox schema, with rows sent and unsent, moves
// to the relay position (SQLite) without losing or repeating a row.
func TestMigrationToRelayPositionKeepsUnsentRows(t *testing.T) {
	brokers := brokertest.Start(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "outbox", outbox.Migrations[:1]); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx, "domain", domain); err != nil {
			t.Fatal(err)
		}
		county := newCounty(t, brokers)
		ob := outbox.New(db, county)
		for i := range 5 {
			if err := register(ctx, db, ob, fmt.Sprintf("case-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		// The first schema's relay had published the first three.
		if _, err := db.Exec(ctx, `UPDATE outbox SET sent_at = ? WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 3)`,
			store.FormatTime(time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx, "outbox", outbox.Migrations); err != nil {
			t.Fatal(err)
		}
		if n, err := ob.Pending(ctx); err != nil || n != 2 {
			t.Fatalf("pending after the migration = %d, %v; want 2", n, err)
		}
		pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
		defer pub.Close()
		relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{}, nil, nil)
		if n, err := relay.Drain(ctx); err != nil || n != 2 {
			t.Fatalf("drain = %d, %v; want the 2 unsent rows", n, err)
		}
		if n, err := relay.Drain(ctx); err != nil || n != 0 {
			t.Fatalf("second drain = %d, %v; want nothing", n, err)
		}
		if size := topicSize(t, brokers, topicOf(county, eventsv1.StreamPetitions)); size != 2 {
			t.Fatalf("topic size = %d, want 2", size)
		}
	})
}

// Purge deletes sent rows past the retention and never an unsent one,
// however old.
func TestPurgeKeepsUnsentRows(t *testing.T) {
	brokers := brokertest.Start(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ob, _ := migratedOutbox(t, db, brokers)
		now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
		ob.SetNow(func() time.Time { return now })
		pub := kt.NewPublisher(kt.NewWriter(kt.WriterConfig{Brokers: brokers}), nil)
		defer pub.Close()
		relay := outbox.NewRelay(ob, pub, outbox.RelayConfig{Retention: time.Hour}, nil, nil)
		for i := range 3 {
			if err := register(ctx, db, ob, fmt.Sprintf("sent-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := relay.Drain(ctx); err != nil || n != 3 {
			t.Fatalf("drain = %d, %v", n, err)
		}
		for i := range 2 {
			if err := register(ctx, db, ob, fmt.Sprintf("unsent-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := relay.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM outbox`); n != 5 {
			t.Fatalf("rows after a purge within the retention = %d, want 5", n)
		}
		now = now.Add(2 * time.Hour)
		if err := relay.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM outbox`); n != 2 {
			t.Fatalf("rows after the retention = %d, want the 2 unsent", n)
		}
		if n, err := relay.Drain(ctx); err != nil || n != 2 {
			t.Fatalf("drain after the purge = %d, %v; want the 2 unsent rows", n, err)
		}
	})
}
