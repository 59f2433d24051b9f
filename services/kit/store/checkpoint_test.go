package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// The WAL reaches the database file without a commit paying for it: a few
// megabytes written, far below the automatic checkpoint's threshold, are
// in the database file within a few background checkpoint ticks.
func TestWALIsCheckpointedInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := storetest.SQLiteDSN(t)
	db, err := store.Open(ctx, store.SQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, "notes", migrations); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	body := strings.Repeat("x", 4000)
	err = db.InTx(ctx, func(tx *store.Tx) error {
		for i := range 1000 { // ≈ 4 MB: 1,000 pages, a sixteenth of the automatic threshold
			if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body, size) VALUES (?, ?, ?)`, fmt.Sprintf("note-%d", i), body, i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+3_000_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after 10 s (was %d): the WAL was not checkpointed", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
