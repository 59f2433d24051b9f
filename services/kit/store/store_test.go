package store_test

import (
	"context"
	"errors"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

var migrations = []store.Migration{
	{Version: 1, Name: "notes", SQL: `CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)`},
	{Version: 2, Name: "notes-size", SQL: `ALTER TABLE notes ADD COLUMN size INTEGER NOT NULL DEFAULT 0`},
}

func TestMigrateIsIdempotentAndOrdered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Given out of order, applied in order; applied twice, no error.
		ms := []store.Migration{migrations[1], migrations[0]}
		for i := 0; i < 2; i++ {
			if err := db.Migrate(ctx, "notes", ms); err != nil {
				t.Fatalf("migrate pass %d: %v", i, err)
			}
		}
		if _, err := db.Exec(ctx, `INSERT INTO notes (id, body, size) VALUES (?, ?, ?)`, "a", "hello", 5); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE component = ?`, "notes").Scan(&n); err != nil || n != 2 {
			t.Fatalf("schema_migrations rows = %d, %v; want 2", n, err)
		}
	})
}

func TestMigrateFailureLeavesKnownVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bad := append(migrations[:1:1], store.Migration{Version: 2, Name: "broken", SQL: `ALTER TABLE nope ADD COLUMN x INTEGER`})
		if err := db.Migrate(ctx, "notes", bad); err == nil {
			t.Fatal("broken migration did not fail")
		}
		var v int
		if err := db.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations WHERE component = ?`, "notes").Scan(&v); err != nil || v != 1 {
			t.Fatalf("version after failure = %d, %v; want 1", v, err)
		}
		// The fixed migration applies on the next start.
		if err := db.Migrate(ctx, "notes", migrations); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMigrateRejectsDuplicateVersions(t *testing.T) {
	db := storetest.SQLite(t)
	err := db.Migrate(context.Background(), "x", []store.Migration{{Version: 1, SQL: "SELECT 1"}, {Version: 1, SQL: "SELECT 1"}})
	if err == nil {
		t.Fatal("duplicate versions accepted")
	}
}

func TestInTxCommitsRollsBackAndRunsHooksOnlyAfterCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "notes", migrations); err != nil {
			t.Fatal(err)
		}
		hooks := 0
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body) VALUES (?, ?)`, "rolled", "x"); err != nil {
				return err
			}
			tx.AfterCommit(func() { hooks++ })
			return boom
		})
		if !errors.Is(err, boom) || hooks != 0 {
			t.Fatalf("err = %v, hooks = %d; want boom and no hook", err, hooks)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			tx.AfterCommit(func() { hooks++ })
			_, err := tx.Exec(ctx, `INSERT INTO notes (id, body) VALUES (?, ?)`, "kept", "y")
			return err
		})
		if err != nil || hooks != 1 {
			t.Fatalf("err = %v, hooks = %d; want nil and one hook", err, hooks)
		}
		var ids []string
		rows, err := db.Query(ctx, `SELECT id FROM notes ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		if len(ids) != 1 || ids[0] != "kept" {
			t.Fatalf("rows = %v; want [kept]", ids)
		}
	})
}

func TestRebind(t *testing.T) {
	if got := store.Rebind(store.Postgres, `SELECT ? , ?`); got != `SELECT $1 , $2` {
		t.Fatalf("postgres rebind = %q", got)
	}
	if got := store.Rebind(store.SQLite, `SELECT ?`); got != `SELECT ?` {
		t.Fatalf("sqlite rebind = %q", got)
	}
	if _, err := store.ParseDialect("mysql"); err == nil {
		t.Fatal("mysql accepted")
	}
}
