package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// Work done with an ambient transaction's context joins it: reads see its
// uncommitted writes, a failing InTx undoes only its own writes, hooks run
// once the outer transaction commits and never when it rolls back.
func TestAmbientTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `CREATE TABLE amb (id TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		count := func(ctx context.Context) int {
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM amb`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, commit := range []bool{true, false} {
			hooks := map[string]int{}
			err := db.InTx(ctx, func(tx *store.Tx) error {
				in := store.WithTx(ctx, tx)
				ok := db.InTx(in, func(tx *store.Tx) error {
					tx.AfterCommit(func() { hooks["a"]++ })
					_, err := tx.Exec(in, `INSERT INTO amb (id) VALUES (?)`, "a")
					return err
				})
				if ok != nil {
					t.Fatalf("nested insert: %v", ok)
				}
				failed := db.InTx(in, func(tx *store.Tx) error {
					tx.AfterCommit(func() { hooks["b"]++ })
					if _, err := tx.Exec(in, `INSERT INTO amb (id) VALUES (?)`, "b"); err != nil {
						return err
					}
					return errors.New("b gives up")
				})
				if failed == nil || failed.Error() != "b gives up" {
					t.Fatalf("failing nested transaction: %v", failed)
				}
				if _, err := db.Exec(in, `INSERT INTO amb (id) VALUES (?)`, "c"); err != nil {
					t.Fatalf("exec in ambient transaction: %v", err)
				}
				if n := count(in); n != 2 {
					t.Fatalf("inside: %d rows, want 2 (a and c; b undone)", n)
				}
				if !commit {
					return errors.New("roll back everything")
				}
				return nil
			})
			want, wantHooks := 2, 1
			if !commit {
				want, wantHooks = 0, 0
				if err == nil {
					t.Fatal("outer rollback not reported")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if n := count(ctx); n != want {
				t.Fatalf("commit=%v: %d rows after, want %d", commit, n, want)
			}
			if hooks["a"] != wantHooks || hooks["b"] != 0 {
				t.Fatalf("commit=%v: hooks %v, want a=%d and no b", commit, hooks, wantHooks)
			}
			if _, err := db.Exec(ctx, `DELETE FROM amb`); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Under WithRedoableTx a nested transaction takes no savepoint: its failure
// spoils the ambient transaction, which must then roll back, and later
// nested transactions fail at once without running.
func TestRedoableAmbientTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `CREATE TABLE amb (id TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		hooks, ran := 0, false
		err := db.InTx(ctx, func(tx *store.Tx) error {
			in := store.WithRedoableTx(ctx, tx)
			if err := db.InTx(in, func(tx *store.Tx) error {
				tx.AfterCommit(func() { hooks++ })
				_, err := tx.Exec(in, `INSERT INTO amb (id) VALUES (?)`, "a")
				return err
			}); err != nil {
				t.Fatalf("nested insert: %v", err)
			}
			if tx.Spoiled() != nil {
				t.Fatalf("spoiled after a success: %v", tx.Spoiled())
			}
			failed := db.InTx(in, func(tx *store.Tx) error {
				if _, err := tx.Exec(in, `INSERT INTO amb (id) VALUES (?)`, "b"); err != nil {
					return err
				}
				return errors.New("b gives up")
			})
			if failed == nil || failed.Error() != "b gives up" {
				t.Fatalf("failing nested transaction: %v", failed)
			}
			later := db.InTx(in, func(tx *store.Tx) error { ran = true; return nil })
			if later == nil || !errors.Is(later, failed) {
				t.Fatalf("nested transaction after the failure: %v, want the failure", later)
			}
			return tx.Spoiled()
		})
		if err == nil || !strings.Contains(err.Error(), "b gives up") {
			t.Fatalf("outer transaction: %v, want the nested failure", err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM amb`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 || hooks != 0 || ran {
			t.Fatalf("after the rollback: %d rows, %d hooks run, later transaction ran=%v; want none", n, hooks, ran)
		}
	})
}
