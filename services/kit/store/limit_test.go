package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkBoundLimit runs one SELECT of a page of 10 rows through the
// statement cache with its LIMIT bound (LIMIT ?) and written in (Limit):
// the difference is SQLite preparing the bound statement again at every
// execution.
func BenchmarkBoundLimit(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, SQLite, filepath.Join(b.TempDir(), "limit.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `CREATE TABLE rows (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, body TEXT NOT NULL, sent INTEGER)`); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := db.Exec(ctx, `INSERT INTO rows (topic, body) VALUES (?, ?)`, fmt.Sprintf("t%d", i%6), "body"); err != nil {
			b.Fatal(err)
		}
	}
	const page = 10
	head := `SELECT id, topic, body FROM rows WHERE id > ? AND sent IS NULL ORDER BY id`
	for _, c := range []struct {
		name string
		q    string
		args []any
	}{
		{"bound", head + ` LIMIT ?`, []any{page}},
		{"written", head + Limit(page), nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rows, err := db.Query(ctx, c.q, append([]any{980}, c.args...)...)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if err := rows.Close(); err != nil || n != page {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
		})
	}
}

func TestLimit(t *testing.T) {
	if got := Limit(256); got != " LIMIT 256" {
		t.Errorf("Limit(256) = %q", got)
	}
}
