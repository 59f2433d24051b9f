package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Migration is one forward-only schema change of a component. SQL runs on
// both dialects, with the placeholders below written per dialect; Postgres,
// when set, replaces it there entirely.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Postgres string
}

// Placeholders for the column types the dialects spell differently.
const (
	// Blob is a byte column: BLOB in SQLite, BYTEA in PostgreSQL.
	Blob = "{{BLOB}}"
	// Serial is an ever-increasing integer primary key: INTEGER PRIMARY KEY
	// AUTOINCREMENT in SQLite, BIGSERIAL PRIMARY KEY in PostgreSQL.
	Serial = "{{SERIAL}}"
)

var placeholders = map[Dialect]*strings.Replacer{
	SQLite:   strings.NewReplacer(Blob, "BLOB", Serial, "INTEGER PRIMARY KEY AUTOINCREMENT"),
	Postgres: strings.NewReplacer(Blob, "BYTEA", Serial, "BIGSERIAL PRIMARY KEY"),
}

func (m Migration) statement(d Dialect) string {
	if d == Postgres && m.Postgres != "" {
		return m.Postgres
	}
	return placeholders[d].Replace(m.SQL)
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	applied_at TEXT    NOT NULL,
	PRIMARY KEY (component, version)
)`

// Migrate applies the component's migrations that are not yet applied, each
// in its own transaction with its bookkeeping row, so a crash leaves the
// schema at a known version. Components (the kit's outbox and inbox, each
// service) keep separate version sequences in one table.
func (db *DB) Migrate(ctx context.Context, component string, migrations []Migration) error {
	if _, err := db.ExecContext(ctx, migrationsTable); err != nil {
		return fmt.Errorf("migrate %s: create schema_migrations: %w", component, err)
	}
	ms := append([]Migration(nil), migrations...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version <= 0 || (i > 0 && ms[i-1].Version == m.Version) {
			return fmt.Errorf("migrate %s: invalid or duplicate version %d", component, m.Version)
		}
	}
	applied := map[int]bool{}
	rows, err := db.Query(ctx, `SELECT version FROM schema_migrations WHERE component = ?`, component)
	if err != nil {
		return fmt.Errorf("migrate %s: read applied versions: %w", component, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		err := db.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, m.statement(db.Dialect)); err != nil {
				return err
			}
			// A concurrent replica applying the same version fails here on
			// the primary key and rolls back its copy of the change.
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)`,
				component, m.Version, m.Name, nowText())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s to version %d (%s): %w", component, m.Version, m.Name, err)
		}
	}
	return nil
}
