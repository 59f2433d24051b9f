package store_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// A caller that gives up stops its transaction at the next statement, on
// both dialects, although SQLite statements of a transaction run under an
// uncancellable context (store.Tx.statementContext).
func TestCancelledCallerStopsTransactionAtNextStatement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		bg := context.Background()
		if err := db.Migrate(bg, "notes", migrations); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body) VALUES (?, ?)`, "first", "x"); err != nil {
				t.Fatalf("first statement: %v", err)
			}
			cancel()
			_, err := tx.Exec(ctx, `INSERT INTO notes (id, body) VALUES (?, ?)`, "second", "x")
			var n int
			rowErr := tx.QueryRow(ctx, `SELECT COUNT(*) FROM notes`).Scan(&n)
			if rowErr == nil {
				t.Errorf("a query after cancellation read %d rows", n)
			}
			return err
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("InTx after cancellation = %v, want context.Canceled", err)
		}
		var n int
		if err := db.QueryRow(bg, `SELECT COUNT(*) FROM notes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("notes after the cancelled transaction: %d (%v), want 0: it must roll back whole", n, err)
		}
	})
}

// Statements of a transaction start no goroutine each (the SQLite driver
// starts one to interrupt a statement run under a cancellable context): a
// thousand statements create a handful of goroutines at most (the
// database's own, opening connections), not a thousand.
func TestTransactionStatementsStartNoGoroutines(t *testing.T) {
	db := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := db.Migrate(ctx, "notes", migrations); err != nil {
		t.Fatal(err)
	}
	created := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		metrics.Read(created)
		before := created[0].Value.Uint64()
		for i := range 1000 {
			if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body, size) VALUES (?, ?, ?)`, fmt.Sprintf("n%d", i), "x", i); err != nil {
				return err
			}
		}
		metrics.Read(created)
		if n := created[0].Value.Uint64() - before; n > 100 {
			t.Errorf("1,000 statements of a transaction created %d goroutines", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
