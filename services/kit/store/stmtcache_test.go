package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func openSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), SQLite, filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestCachedStatementsSurviveSchemaChangesAndTransactions(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	if _, err := db.Exec(ctx, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO notes (id, body) VALUES (?, ?)`
	count := `SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM notes`
	for i := 0; i < 50; i++ {
		err := db.InTx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(ctx, insert, i, strings.Repeat("x", i))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A rolled-back transaction leaves nothing, although its statement is cached.
	_ = db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, insert, 1000, "gone"); err != nil {
			t.Fatal(err)
		}
		return fmt.Errorf("roll back")
	})
	var n, size int
	if err := db.QueryRow(ctx, count).Scan(&n, &size); err != nil || n != 50 || size != 49*50/2 {
		t.Fatalf("count = %d, size = %d, %v; want 50 and %d", n, size, err, 49*50/2)
	}
	// The schema changes under the cached statements: SQLite re-prepares them.
	if _, err := db.Exec(ctx, `ALTER TABLE notes ADD COLUMN extra TEXT`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, insert, 51, "after"); err != nil {
		t.Fatalf("insert after schema change: %v", err)
	}
	if err := db.QueryRow(ctx, count).Scan(&n, &size); err != nil || n != 51 {
		t.Fatalf("count after schema change = %d, %v; want 51", n, err)
	}
	if got := len(db.stmts.m); got != 4 {
		t.Fatalf("cached statements = %d, want 4 (create, insert, count, alter)", got)
	}
}

func TestStatementCacheIsBoundedAndBadSQLStillFails(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	if _, err := db.Exec(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO missing VALUES (1)`); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("bad statement: error %v, want one naming the missing table", err)
	}
	for i := 0; i < maxCachedStatements+20; i++ {
		var v int
		if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&v); err != nil || v != i {
			t.Fatalf("select %d = %d, %v", i, v, err)
		}
	}
	if got := len(db.stmts.m); got > maxCachedStatements {
		t.Fatalf("cache holds %d statements, bound is %d", got, maxCachedStatements)
	}
	if _, err := db.Exec(ctx, `INSERT INTO missing VALUES (1)`); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("bad statement: error %v, want one naming the missing table", err)
	}
}
