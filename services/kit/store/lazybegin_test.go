package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// lazyDB is a PostgreSQL store with one connection, so that every step of a
// test runs on the connection the transaction used, a table, and a
// connection of another client to the same schema to see what is committed.
func lazyDB(t *testing.T) (*store.DB, *sql.DB) {
	t.Helper()
	dsn := storetest.PostgresSchemaDSN(t)
	db, err := store.Open(context.Background(), store.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(context.Background(), `CREATE TABLE lazy (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	o, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return db, o
}

// committed counts the rows another connection sees.
func committed(t *testing.T, o *sql.DB) int {
	t.Helper()
	var n int
	if err := o.QueryRow(`SELECT COUNT(*) FROM lazy`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The BEGIN goes out with the first statement, and the statement is inside
// the transaction: another connection does not see its row until COMMIT.
func TestPostgresTransactionBeginsWithItsFirstStatement(t *testing.T) {
	ctx := context.Background()
	for _, first := range []string{"exec", "query", "prepare", "exec without arguments"} {
		t.Run(first, func(t *testing.T) {
			db, o := lazyDB(t)
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			switch first {
			case "exec":
				_, err = tx.ExecContext(ctx, `INSERT INTO lazy (id) VALUES ($1)`, "a")
			case "query":
				var id string
				err = tx.QueryRowContext(ctx, `INSERT INTO lazy (id) VALUES ($1) RETURNING id`, "a").Scan(&id)
			case "prepare":
				var st *sql.Stmt
				if st, err = tx.PrepareContext(ctx, `INSERT INTO lazy (id) VALUES ($1)`); err == nil {
					_, err = st.ExecContext(ctx, "a")
					st.Close()
				}
			case "exec without arguments":
				_, err = tx.ExecContext(ctx, `INSERT INTO lazy (id) VALUES ('a'); INSERT INTO lazy (id) VALUES ('b')`)
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := committed(t, o); n != 0 {
				t.Fatalf("another connection sees %d rows before COMMIT: the statement ran outside the transaction", n)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO lazy (id) VALUES ($1)`, "c"); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if n := committed(t, o); n != 0 {
				t.Fatalf("%d rows after ROLLBACK", n)
			}

			// Again, committed.
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO lazy (id) VALUES (?)`, "d")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n := committed(t, o); n != 1 {
				t.Fatalf("%d rows after COMMIT, want 1", n)
			}
		})
	}
}

// A transaction whose statement failed commits nothing, and says so: COMMIT
// answered ROLLBACK is pgx's ErrTxCommitRollback, as without lazy BEGINs.
func TestPostgresFailedTransactionCommitsNothing(t *testing.T) {
	ctx := context.Background()
	db, o := lazyDB(t)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO lazy (id) VALUES ($1)`, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO lazy (id) VALUES ($1)`, "a"); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
	if err := tx.Commit(); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("commit after a failed statement: %v, want %v", err, pgx.ErrTxCommitRollback)
	}
	if n := committed(t, o); n != 0 {
		t.Fatalf("%d rows committed", n)
	}

	// The first statement itself failing: the transaction is rolled back
	// and the connection (the only one) serves the next.
	err = db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO missing (id) VALUES (?)`, "a")
		return err
	})
	if err == nil {
		t.Fatal("an insert into a missing table succeeded")
	}
	if _, err := db.Exec(ctx, `INSERT INTO lazy (id) VALUES (?)`, "b"); err != nil {
		t.Fatalf("the connection after a failed first statement: %v", err)
	}
	if n := committed(t, o); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// A transaction that ran nothing ends without a word to the server and
// leaves the connection usable; one with an isolation level begins as
// before.
func TestPostgresEmptyAndIsolatedTransactions(t *testing.T) {
	ctx := context.Background()
	db, _ := lazyDB(t)
	for _, end := range []func(*sql.Tx) error{(*sql.Tx).Commit, (*sql.Tx).Rollback} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := end(tx); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		t.Fatal(err)
	}
	var level string
	if err := tx.QueryRowContext(ctx, `SHOW transaction_isolation`).Scan(&level); err != nil || level != "serializable" {
		t.Fatalf("isolation %q, %v; want serializable", level, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := db.QueryRow(ctx, `SELECT 'idle'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
}

// A cancelled first statement fails the transaction and the pool goes on.
func TestPostgresCancelledFirstStatement(t *testing.T) {
	db, _ := lazyDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := tx.ExecContext(ctx, `INSERT INTO lazy (id) VALUES ($1)`, "a"); err == nil {
		t.Fatal("a cancelled statement succeeded")
	}
	_ = tx.Rollback()
	if _, err := db.Exec(context.Background(), `INSERT INTO lazy (id) VALUES (?)`, "b"); err != nil {
		t.Fatalf("after a cancelled transaction: %v", err)
	}
}

// BenchmarkPostgresTransaction runs a transaction of two inserts through
// pgx's own database/sql driver and through the store's (BEGIN sent with
// the first insert): one round trip fewer a transaction.
func BenchmarkPostgresTransaction(b *testing.B) {
	ctx := context.Background()
	dsn := storetest.PostgresSchemaDSN(b)
	lazy, err := store.Open(ctx, store.Postgres, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer lazy.Close()
	plain, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Exec(`CREATE TABLE bench (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		db   *sql.DB
	}{{"pgx", plain}, {"store", lazy.DB}} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := plain.Exec(`TRUNCATE bench`); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tx, err := c.db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for k := range 2 {
					if _, err := tx.ExecContext(ctx, `INSERT INTO bench (id, n) VALUES ($1, $2)`, fmt.Sprintf("%s-%d-%d", c.name, i, k), i); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
