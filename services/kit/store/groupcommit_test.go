package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent transactions share commits; each one's failure, panic or
// cancelled context undoes exactly its own work, and after-commit hooks run
// for the committed ones only.
func TestGroupCommitKeepsEachTransactionsOutcome(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	if _, err := db.Exec(ctx, `CREATE TABLE rows (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const writers = 400
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var hooks atomic.Int64
	var wg sync.WaitGroup
	outcome := make([]error, writers)
	panics := make([]any, writers)
	start := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[w] = recover() }()
			<-start
			c := ctx
			if w%10 == 3 {
				c = cancelled
			}
			outcome[w] = db.InTx(c, func(tx *Tx) error {
				// Two rows per transaction: a partial undo would show.
				for k := 0; k < 2; k++ {
					if _, err := tx.Exec(c, `INSERT INTO rows (id, writer) VALUES (?, ?)`, w*2+k, w); err != nil {
						return err
					}
				}
				if w%10 == 5 {
					// A constraint violation fails the statement, not the group.
					if _, err := tx.Exec(c, `INSERT INTO rows (id, writer) VALUES (?, ?)`, w*2, w); err == nil {
						return errors.New("duplicate key accepted")
					}
					return fmt.Errorf("writer %d gives up", w)
				}
				if w%10 == 7 {
					panic(fmt.Sprintf("writer %d panics", w))
				}
				tx.AfterCommit(func() { hooks.Add(1) })
				return nil
			})
		}()
	}
	close(start)
	wg.Wait()
	want := 0
	for w := 0; w < writers; w++ {
		switch w % 10 {
		case 3:
			if !errors.Is(outcome[w], context.Canceled) {
				t.Errorf("writer %d (cancelled): %v", w, outcome[w])
			}
		case 5:
			if outcome[w] == nil {
				t.Errorf("writer %d: failure not returned", w)
			}
		case 7:
			if panics[w] != fmt.Sprintf("writer %d panics", w) {
				t.Errorf("writer %d: panic %v not re-raised in its caller", w, panics[w])
			}
		default:
			want++
			if outcome[w] != nil || panics[w] != nil {
				t.Errorf("writer %d: %v %v", w, outcome[w], panics[w])
			}
		}
	}
	var n, bad int
	if err := db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(writer % 10 IN (3, 5, 7)), 0) FROM rows`).Scan(&n, &bad); err != nil {
		t.Fatal(err)
	}
	if n != 2*want || bad != 0 {
		t.Fatalf("rows = %d (of failed writers: %d); want %d rows, none of failed writers", n, bad, 2*want)
	}
	if hooks.Load() != int64(want) {
		t.Fatalf("after-commit hooks ran %d times, want %d", hooks.Load(), want)
	}
	if g := db.group.groups.Load(); g >= writers {
		t.Fatalf("%d transactions for %d concurrent writers: commits were not shared", g, writers)
	}
	t.Logf("%d writers committed in %d transactions", writers, db.group.groups.Load())
}

// A lone writer's failure rolls back as before (no savepoint involved).
func TestGroupOfOneRollsBack(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	if _, err := db.Exec(ctx, `CREATE TABLE rows (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rows (id) VALUES (1)`); err != nil {
			return err
		}
		return errors.New("no")
	})
	if err == nil || err.Error() != "no" {
		t.Fatalf("err = %v", err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM rows`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows = %d, %v; want 0", n, err)
	}
}
