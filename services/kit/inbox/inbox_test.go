package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

func setup(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	if err := db.Migrate(ctx, "inbox", inbox.Migrations); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "test", []store.Migration{{Version: 1, SQL: `CREATE TABLE applied (event_id TEXT NOT NULL)`}}); err != nil {
		t.Fatal(err)
	}
}

func apply(in *inbox.Inbox, id string) (bool, error) {
	ctx := context.Background()
	return in.Apply(ctx, id, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO applied (event_id) VALUES (?)`, id)
		return err
	})
}

func count(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM applied`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestApplyOncePerEventAndConsumer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		setup(t, db)
		a, b := inbox.New(db, "routing"), inbox.New(db, "statistics")
		for i, want := range []bool{true, false, false} {
			got, err := apply(a, "e1")
			if err != nil || got != want {
				t.Fatalf("apply #%d = %v, %v; want %v", i, got, err, want)
			}
		}
		// Another consumer applies the same event once for itself.
		if got, err := apply(b, "e1"); err != nil || !got {
			t.Fatalf("other consumer = %v, %v", got, err)
		}
		if n := count(t, db); n != 2 {
			t.Fatalf("applied rows = %d, want 2", n)
		}
		seen, err := a.Seen(context.Background(), "e1")
		if err != nil || !seen {
			t.Fatalf("Seen = %v, %v", seen, err)
		}
	})
}

func TestFailedApplyIsNotRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		setup(t, db)
		in := inbox.New(db, "c")
		boom := errors.New("boom")
		ctx := context.Background()
		_, err := in.Apply(ctx, "e1", func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO applied (event_id) VALUES (?)`, "e1"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if got, err := apply(in, "e1"); err != nil || !got {
			t.Fatalf("retry after failure = %v, %v; want applied", got, err)
		}
		if n := count(t, db); n != 1 {
			t.Fatalf("applied rows = %d, want 1 (the failed attempt rolled back)", n)
		}
		if _, err := in.Apply(ctx, "", func(*store.Tx) error { return nil }); err == nil {
			t.Fatal("empty event id accepted")
		}
	})
}

func TestConcurrentDuplicatesApplyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		setup(t, db)
		in := inbox.New(db, "c")
		var wg sync.WaitGroup
		var mu sync.Mutex
		applied := 0
		var errs []error
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 10; j++ {
					ok, err := apply(in, fmt.Sprintf("e%d", j))
					mu.Lock()
					if ok {
						applied++
					}
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		// On PostgreSQL a racing duplicate may fail on the primary key
		// instead of ON CONFLICT; a consumer retries it, and the retry skips.
		for _, err := range errs {
			t.Logf("racing apply: %v", err)
		}
		if applied != 10 || count(t, db) != 10 {
			t.Fatalf("applied %d (rows %d), want 10", applied, count(t, db))
		}
	})
}
