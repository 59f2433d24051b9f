package store

import (
	"context"
	"fmt"
)

type ambientKey struct{}

// WithTx makes tx the ambient transaction of ctx: every InTx, Exec, Query
// and QueryRow of tx's database called with the returned context runs in
// tx (InTx inside a savepoint of its own) instead of on its own connection.
// A consumer applying a fetched batch of messages in one transaction uses
// it, so the one-message handlers need no change, read what the earlier
// messages of the batch wrote, and all commit at once.
func WithTx(ctx context.Context, tx *Tx) context.Context {
	return context.WithValue(ctx, ambientKey{}, tx)
}

// ambient returns the ambient transaction of ctx when it belongs to db.
func (db *DB) ambient(ctx context.Context) *Tx {
	tx, _ := ctx.Value(ambientKey{}).(*Tx)
	if tx == nil || tx.db != db {
		return nil
	}
	return tx
}

// nested runs f inside a savepoint of tx: f's failure (or panic) undoes
// f's writes only, and f's after-commit hooks join tx's, to run when the
// outermost transaction commits.
func (tx *Tx) nested(ctx context.Context, f func(tx *Tx) error) (err error) {
	name := fmt.Sprintf("amb%d", tx.depth+1)
	if _, err := tx.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	child := &Tx{Tx: tx.Tx, db: tx.db, dialect: tx.dialect, stmts: tx.stmts, bound: tx.bound, depth: tx.depth + 1}
	undo := func() error {
		if _, err := tx.Exec(ctx, "ROLLBACK TO "+name); err != nil {
			return fmt.Errorf("rollback to savepoint: %w", err)
		}
		if _, err := tx.Exec(ctx, "RELEASE "+name); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			_ = undo()
			panic(p)
		}
	}()
	if err := f(child); err != nil {
		if uerr := undo(); uerr != nil {
			return fmt.Errorf("%w (and %w)", err, uerr)
		}
		return err
	}
	if _, err := tx.Exec(ctx, "RELEASE "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	tx.mu.Lock()
	tx.afterCommit = append(tx.afterCommit, child.afterCommit...)
	tx.mu.Unlock()
	return nil
}
