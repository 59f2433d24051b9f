// Package storetest gives tests real databases: a fresh SQLite file and,
// when XINFANG_TEST_POSTGRES_DSN is set (hack/postgres.sh prints one), a
// fresh schema in a real PostgreSQL. In CI (CI=true) a missing PostgreSQL
// fails the test instead of skipping it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"xinfang.io/services/kit/store"
)

// PostgresEnv names the variable holding the test PostgreSQL DSN.
const PostgresEnv = "XINFANG_TEST_POSTGRES_DSN"

// Each runs f once per dialect, as subtests named "sqlite" and "postgres".
func Each(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Helper()
	EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) { f(t, open(t, d, dsn)) })
}

// EachDSN runs f once per dialect with the DSN of a fresh database, for tests
// that hand the database to another process.
func EachDSN(t *testing.T, f func(t *testing.T, d store.Dialect, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, store.SQLite, SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, store.Postgres, PostgresSchemaDSN(t)) })
}

// SQLite opens a new database file in the test's temp dir.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	return open(t, store.SQLite, SQLiteDSN(t))
}

// SQLiteDSN names a new database file in the test's temp dir.
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "test.db")
}

// Postgres opens a fresh schema of the test PostgreSQL (see PostgresSchemaDSN).
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	return open(t, store.Postgres, PostgresSchemaDSN(t))
}

// PostgresSchemaDSN creates a schema of its own in the test PostgreSQL and
// returns a DSN whose search_path points at it; the schema is dropped after
// the test.
func PostgresSchemaDSN(t testing.TB) string {
	t.Helper()
	dsn := PostgresDSN(t)
	schema := "t_" + randomHex(8)
	admin := open(t, store.Postgres, dsn)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresDSN returns the test PostgreSQL DSN, skipping the test when there is
// none outside CI and failing it in CI.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: in CI the PostgreSQL tests must run (make test starts one with hack/postgres.sh)", PostgresEnv)
		}
		t.Skipf("%s not set; run hack/postgres.sh start DIR and export the DSN it prints", PostgresEnv)
	}
	return dsn
}

func open(t testing.TB, d store.Dialect, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), d, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
