// Package inbox makes a consumer idempotent: an event id is applied at most
// once per consumer, and the bookkeeping row commits in the same transaction
// as the consumer's own writes, so a redelivered or twice-published event is
// a no-op.
package inbox

import (
	"context"
	"fmt"
	"time"

	"xinfang.io/services/kit/store"
)

// Migrations create the inbox table. Apply with db.Migrate(ctx, "inbox", …).
var Migrations = []store.Migration{{
	Version: 1,
	Name:    "inbox",
	SQL: `CREATE TABLE inbox (
	consumer   TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	applied_at TEXT NOT NULL,
	PRIMARY KEY (consumer, event_id)
)`,
}}

// Inbox records which events a consumer has applied.
type Inbox struct {
	db       *store.DB
	consumer string
}

// New returns the inbox of one consumer (its consumer group name).
func New(db *store.DB, consumer string) *Inbox { return &Inbox{db: db, consumer: consumer} }

// Apply runs f in a transaction unless eventID was applied before. It
// reports whether f ran and committed. If f fails nothing is recorded, so a
// retry applies it again.
func (in *Inbox) Apply(ctx context.Context, eventID string, f func(tx *store.Tx) error) (bool, error) {
	if eventID == "" {
		return false, fmt.Errorf("inbox %s: event without id", in.consumer)
	}
	applied := false
	err := in.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx,
			`INSERT INTO inbox (consumer, event_id, applied_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			in.consumer, eventID, store.FormatTime(time.Now()))
		if err != nil {
			return fmt.Errorf("inbox %s: record %s: %w", in.consumer, eventID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("inbox %s: %w", in.consumer, err)
		}
		if n == 0 {
			return nil // already applied: nothing to do
		}
		if err := f(tx); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return applied, nil
}

// Seen reports whether eventID was applied by this consumer.
func (in *Inbox) Seen(ctx context.Context, eventID string) (bool, error) {
	var n int
	err := in.db.QueryRow(ctx, `SELECT COUNT(*) FROM inbox WHERE consumer = ? AND event_id = ?`, in.consumer, eventID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("inbox %s: %w", in.consumer, err)
	}
	return n > 0, nil
}
