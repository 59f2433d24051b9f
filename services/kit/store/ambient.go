package store

import (
	"context"
	"fmt"
)

type ambientKey struct{}

// ambientTx is the value under ambientKey.
type ambientTx struct {
	tx *Tx
	// redo: nested transactions take no savepoint (WithRedoableTx).
	redo bool
}

// WithTx makes tx the ambient transaction of ctx: every InTx, Exec, Query
// and QueryRow of tx's database called with the returned context runs in
// tx (InTx inside a savepoint of its own) instead of on its own connection.
// A consumer applying a fetched batch of messages in one transaction uses
// it, so the one-message handlers need no change, read what the earlier
// messages of the batch wrote, and all commit at once.
func WithTx(ctx context.Context, tx *Tx) context.Context {
	return context.WithValue(ctx, ambientKey{}, ambientTx{tx: tx})
}

// WithRedoableTx is WithTx for work that is redone another way when any
// part of it fails (app.ConsumeInTx handles a failed run's messages one at
// a time): nested transactions take no savepoint, and the first one that
// fails spoils tx — later InTx calls on it fail at once, and Spoiled
// reports the failure even when the caller swallowed it, so that tx is
// rolled back, never committed. Savepoints cost a copy of every page each
// nested transaction touches (a tenth of supervision's CPU at load), for a
// failure the redo handles anyway.
func WithRedoableTx(ctx context.Context, tx *Tx) context.Context {
	return context.WithValue(ctx, ambientKey{}, ambientTx{tx: tx, redo: true})
}

// Spoiled is the failure of a nested transaction of tx made through
// WithRedoableTx, or nil: tx must then be rolled back.
func (tx *Tx) Spoiled() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.spoiled
}

func (tx *Tx) spoil(err error) {
	tx.mu.Lock()
	if tx.spoiled == nil {
		tx.spoiled = fmt.Errorf("a transaction of the run failed: %w", err)
	}
	tx.mu.Unlock()
}

// ambient returns the ambient transaction of ctx when it belongs to db,
// and whether its nested transactions skip savepoints.
func (db *DB) ambient(ctx context.Context) (*Tx, bool) {
	a, _ := ctx.Value(ambientKey{}).(ambientTx)
	if a.tx == nil || a.tx.db != db {
		return nil, false
	}
	return a.tx, a.redo
}

// redoable runs f directly in tx (see WithRedoableTx).
func (tx *Tx) redoable(f func(tx *Tx) error) (err error) {
	if err := tx.Spoiled(); err != nil {
		return err
	}
	child := &Tx{Tx: tx.Tx, db: tx.db, dialect: tx.dialect, stmts: tx.stmts, bound: tx.bound, depth: tx.depth}
	defer func() {
		if p := recover(); p != nil {
			tx.spoil(fmt.Errorf("panic: %v", p))
			panic(p)
		}
	}()
	if err := f(child); err != nil {
		tx.spoil(err)
		return err
	}
	tx.mu.Lock()
	tx.afterCommit = append(tx.afterCommit, child.afterCommit...)
	tx.mu.Unlock()
	return nil
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
		// f's deferred writes go out ahead of the RELEASE (ExecDeferred):
		// one that fails there is f's failure, undone like any other.
		err = fmt.Errorf("release savepoint: %w", err)
		if uerr := undo(); uerr != nil {
			return fmt.Errorf("%w (and %w)", err, uerr)
		}
		return err
	}
	tx.mu.Lock()
	tx.afterCommit = append(tx.afterCommit, child.afterCommit...)
	tx.mu.Unlock()
	return nil
}
