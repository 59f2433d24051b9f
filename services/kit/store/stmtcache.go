package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds the cache: the services' statements are
// constant texts, a few dozen per service; text built at run time (IN lists
// of varying length) must not grow it without limit, so past the bound a
// statement is simply prepared each time as before.
const maxCachedStatements = 512

// stmtCache keeps one prepared statement per SQL text. database/sql
// prepares it lazily on each connection it runs on and reuses it there, also
// inside transactions (Tx.StmtContext).
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for q, or nil when the cache is off
// (nil receiver), full, or q does not prepare (the caller then runs q
// directly and reports its error).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	st := c.m[q]
	n := len(c.m)
	c.mu.RUnlock()
	if st != nil || n >= maxCachedStatements {
		return st
	}
	// Prepared without holding the lock: preparing waits for a free
	// connection, and a transaction holding one may be asking the cache for
	// its next statement.
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[q]; prev != nil {
		_ = st.Close()
		return prev
	}
	c.m[q] = st
	return st
}

// close releases the statements (before the database closes).
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

// boundStmts are a transaction's versions of the cached statements.
// database/sql's Tx.StmtContext makes a new one on every call (a lookup
// under the statement's lock and an allocation), and a group transaction
// runs the same few statements hundreds of times; they are closed with the
// transaction.
type boundStmts struct {
	mu sync.Mutex
	m  map[*sql.Stmt]*sql.Stmt
}

func (b *boundStmts) get(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.m[st]; s != nil {
		return s
	}
	if b.m == nil {
		b.m = map[*sql.Stmt]*sql.Stmt{}
	}
	s := tx.StmtContext(ctx, st)
	b.m[st] = s
	return s
}
