package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxGroup bounds how many transactions share one SQLite commit.
const maxGroup = 256

// groupCommit lets concurrent SQLite transactions share one commit. SQLite
// runs one writer at a time, so concurrent writers queue anyway; instead of
// each paying for its own BEGIN and COMMIT (the WAL append, most of a small
// transaction's cost), whoever finds no group running becomes the leader
// and runs the queued functions one after another in one transaction, each
// inside its own SAVEPOINT so that one that fails is rolled back alone, then
// commits once. A lone writer pays nothing extra: a group of one runs
// without a savepoint, exactly as before. Callers see the usual contract:
// InTx returns after their work committed, or with their error and none of
// their work kept.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*pending
	running bool
	// groups counts the transactions run, for tests.
	groups atomic.Int64
}

type pending struct {
	ctx   context.Context
	f     func(tx *Tx) error
	wake  chan bool // true: lead the next group; false: done
	tx    *Tx
	err   error
	panic any
}

// inGroup runs f as part of a group commit and returns its transaction (for
// the after-commit hooks) once the group committed.
func (db *DB) inGroup(ctx context.Context, f func(tx *Tx) error) (*Tx, error) {
	p := &pending{ctx: ctx, f: f, wake: make(chan bool, 1)}
	g := db.group
	g.mu.Lock()
	g.queue = append(g.queue, p)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		lead = <-p.wake
	}
	if lead {
		db.lead(p)
	}
	if p.panic != nil {
		panic(p.panic)
	}
	if p.err != nil {
		return nil, p.err
	}
	return p.tx, nil
}

// lead runs groups until the one holding self has run, then hands the lead
// to the next waiter, so that no caller waits for groups after its own.
func (db *DB) lead(self *pending) {
	g := db.group
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		db.runGroup(batch)
		mine := false
		for _, p := range batch {
			if p == self {
				mine = true
			} else {
				p.wake <- false
			}
		}
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		next := g.queue[0]
		g.mu.Unlock()
		if mine {
			next.wake <- true
			return
		}
	}
}

func (db *DB) runGroup(batch []*pending) {
	defer db.lockWrites()()
	db.group.groups.Add(1)
	// The group outlives any one caller's context: a caller that gave up is
	// skipped, the others' work still commits.
	ctx := context.Background()
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		for _, p := range batch {
			p.err = fmt.Errorf("begin transaction: %w", err)
		}
		return
	}
	solo := len(batch) == 1
	bound := &boundStmts{}
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			continue
		}
		p.tx = &Tx{Tx: sqlTx, db: db, dialect: db.Dialect, stmts: db.stmts, bound: bound}
		if !solo {
			if _, err := p.tx.Exec(ctx, `SAVEPOINT grp`); err != nil {
				db.abortGroup(sqlTx, batch, fmt.Errorf("group commit: savepoint: %w", err))
				return
			}
		}
		p.err, p.panic = call(p.f, p.tx)
		if p.err == nil && p.panic == nil {
			if !solo {
				if _, err := p.tx.Exec(ctx, `RELEASE grp`); err != nil {
					db.abortGroup(sqlTx, batch, fmt.Errorf("group commit: release savepoint: %w", err))
					return
				}
			}
			continue
		}
		if solo {
			if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) && p.err != nil {
				p.err = errors.Join(p.err, fmt.Errorf("rollback: %w", rbErr))
			}
			return
		}
		// A failed statement may have ended the whole SQLite transaction
		// (I/O errors, a full disk do): then nothing of the group is kept and
		// every member gets an error to retry on.
		if _, err := p.tx.Exec(ctx, `ROLLBACK TO grp`); err != nil {
			db.abortGroup(sqlTx, batch, fmt.Errorf("group commit: a transaction of the group failed and took the group with it: %w", err))
			return
		}
		if _, err := p.tx.Exec(ctx, `RELEASE grp`); err != nil {
			db.abortGroup(sqlTx, batch, fmt.Errorf("group commit: release savepoint: %w", err))
			return
		}
	}
	if err := sqlTx.Commit(); err != nil {
		for _, p := range batch {
			if p.err == nil && p.panic == nil {
				p.err = fmt.Errorf("commit transaction: %w", err)
			}
		}
	}
}

// abortGroup rolls the group back and fails every member that had
// succeeded (members that failed keep their own error).
func (db *DB) abortGroup(sqlTx interface{ Rollback() error }, batch []*pending, err error) {
	_ = sqlTx.Rollback()
	for _, p := range batch {
		if p.err == nil && p.panic == nil {
			p.err = err
		}
	}
}

// call runs f, turning a panic into a value the caller re-raises on its own
// goroutine.
func call(f func(tx *Tx) error, tx *Tx) (err error, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			panicked = r
		}
	}()
	return f(tx), nil
}
