package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// isUniqueViolation reports a PostgreSQL unique violation (SQLSTATE 23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// deferInsert defers one insert into lazy for each id.
func deferInsert(ctx context.Context, tx *store.Tx, ids ...string) error {
	for _, id := range ids {
		if err := tx.ExecDeferred(ctx, `INSERT INTO lazy (id) VALUES (?)`, id); err != nil {
			return err
		}
	}
	return nil
}

// committedIDs lists the ids another connection sees, in order.
func committedIDs(t *testing.T, o *sql.DB) string {
	t.Helper()
	var ids sql.NullString
	if err := o.QueryRow(`SELECT string_agg(id, ',' ORDER BY id) FROM lazy`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	return ids.String
}

// A deferred write is not sent until the transaction's next statement or
// its COMMIT: a duplicate key is reported there, not by ExecDeferred, and
// what waits goes out in order, before the statement it rides with.
func TestPostgresDeferredWritesGoOutWithTheNextStatement(t *testing.T) {
	ctx := context.Background()

	t.Run("reported by the next exec", func(t *testing.T) {
		db, o := lazyDB(t)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := deferInsert(ctx, tx, "a"); err != nil {
				t.Fatalf("first deferred write: %v", err)
			}
			if err := deferInsert(ctx, tx, "a"); err != nil {
				t.Fatalf("the duplicate was sent at once: %v", err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO lazy (id) VALUES (?)`, "b")
			if !isUniqueViolation(err) || !strings.Contains(err.Error(), "deferred write") {
				t.Fatalf("the next exec: %v, want the deferred write's unique violation", err)
			}
			return err
		})
		if err == nil {
			t.Fatal("the transaction committed")
		}
		if n := committed(t, o); n != 0 {
			t.Fatalf("%d rows committed, want none", n)
		}
		// The connection is clean for the next transaction.
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO lazy (id) VALUES (?)`, "c")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n := committed(t, o); n != 1 {
			t.Fatalf("%d rows after the next transaction, want 1", n)
		}
	})

	t.Run("sent before a query, in order", func(t *testing.T) {
		db, o := lazyDB(t)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := deferInsert(ctx, tx, "a", "b"); err != nil {
				return err
			}
			// Depends on "a" being in before it runs.
			if err := tx.ExecDeferred(ctx, `UPDATE lazy SET id = id || '2' WHERE id = ?`, "a"); err != nil {
				return err
			}
			var ids string
			if err := tx.QueryRow(ctx, `SELECT string_agg(id, ',' ORDER BY id) FROM lazy`).Scan(&ids); err != nil {
				return err
			}
			if ids != "a2,b" {
				t.Fatalf("the transaction reads %q, want a2,b", ids)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := committed(t, o); n != 2 {
			t.Fatalf("%d rows committed, want 2", n)
		}
	})

	t.Run("its arguments as they were when deferred", func(t *testing.T) {
		db, o := lazyDB(t)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			ids, key := []string{"a", "b"}, []byte("c")
			if err := tx.ExecDeferred(ctx, `INSERT INTO lazy (id) SELECT unnest(?::text[])`, ids); err != nil {
				return err
			}
			if err := tx.ExecDeferred(ctx, `INSERT INTO lazy (id) VALUES (convert_from(?, 'UTF8'))`, key); err != nil {
				return err
			}
			ids[0], ids[1], key[0] = "x", "y", 'z' // a caller's buffers, reused
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ids := committedIDs(t, o); ids != "a,b,c" {
			t.Fatalf("committed %q, want a,b,c", ids)
		}
	})

	t.Run("a transaction of deferred writes only", func(t *testing.T) {
		db, o := lazyDB(t)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := deferInsert(ctx, tx, "a", "b", "c"); err != nil {
				return err
			}
			if n := committed(t, o); n != 0 {
				t.Fatalf("another connection sees %d rows before COMMIT", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := committed(t, o); n != 3 {
			t.Fatalf("%d rows committed, want 3", n)
		}
	})

	t.Run("reported by the commit", func(t *testing.T) {
		for _, before := range []string{"nothing", "a checked write"} {
			t.Run("after "+before, func(t *testing.T) {
				db, o := lazyDB(t)
				err := db.InTx(ctx, func(tx *store.Tx) error {
					if before != "nothing" {
						if _, err := tx.Exec(ctx, `INSERT INTO lazy (id) VALUES (?)`, "x"); err != nil {
							return err
						}
					}
					if err := deferInsert(ctx, tx, "a"); err != nil {
						return err
					}
					return deferInsert(ctx, tx, "a")
				})
				if !isUniqueViolation(err) || !strings.Contains(err.Error(), "commit") {
					t.Fatalf("InTx: %v, want the commit to fail with the unique violation", err)
				}
				if n := committed(t, o); n != 0 {
					t.Fatalf("%d rows committed, want none", n)
				}
				if err := db.InTx(ctx, func(tx *store.Tx) error {
					return deferInsert(ctx, tx, "b")
				}); err != nil {
					t.Fatalf("the next transaction on the connection: %v", err)
				}
				if n := committed(t, o); n != 1 {
					t.Fatalf("%d rows after the next transaction, want 1", n)
				}
			})
		}
	})

	t.Run("dropped by a rollback", func(t *testing.T) {
		db, o := lazyDB(t)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO lazy (id) VALUES (?)`, "x"); err != nil {
				return err
			}
			if err := deferInsert(ctx, tx, "x"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v, want the function's own error (the duplicate never sent)", err)
		}
		if n := committed(t, o); n != 0 {
			t.Fatalf("%d rows committed, want none", n)
		}
	})

	t.Run("inside a savepoint", func(t *testing.T) {
		db, o := lazyDB(t)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := deferInsert(ctx, tx, "outer"); err != nil {
				return err
			}
			amb := store.WithTx(ctx, tx)
			// A nested transaction that fails by itself: its deferred write
			// is dropped with it, the outer one stays.
			boom := errors.New("boom")
			if err := db.InTx(amb, func(tx *store.Tx) error {
				if err := deferInsert(amb, tx, "undone"); err != nil {
					return err
				}
				return boom
			}); !errors.Is(err, boom) {
				t.Fatalf("nested: %v, want boom", err)
			}
			// One whose deferred write fails: the failure is its own
			// (reported by its RELEASE), and undone with it.
			if err := db.InTx(amb, func(tx *store.Tx) error {
				return deferInsert(amb, tx, "outer")
			}); !isUniqueViolation(err) {
				t.Fatalf("nested duplicate: %v, want its unique violation", err)
			}
			return deferInsert(ctx, tx, "after")
		})
		if err != nil {
			t.Fatal(err)
		}
		if ids := committedIDs(t, o); ids != "after,outer" {
			t.Fatalf("committed %q, want after,outer", ids)
		}
	})
}

// On SQLite a deferred write runs at once and reports its own error.
func TestSQLiteDeferredWriteRunsAtOnce(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	if _, err := db.Exec(ctx, `CREATE TABLE lazy (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := deferInsert(ctx, tx, "a"); err != nil {
			return err
		}
		if err := deferInsert(ctx, tx, "a"); err == nil {
			t.Fatal("the duplicate reported no error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
