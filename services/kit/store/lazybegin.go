package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL transactions send their BEGIN with their first statement.
//
// database/sql with pgx sends BEGIN as a round trip of its own before a
// transaction's first statement: at one transaction per consumed event,
// BEGIN and COMMIT were 27% of the services' round trips to PostgreSQL
// (docs/benchmarks.md §1 item 20), and database/sql has no way to say
// otherwise (jackc/pgx#1667). lazyBeginConn wraps pgx's database/sql
// connection: a transaction with the default options begins as a flag, and
// its first Exec with arguments goes out in one pipeline behind the BEGIN
// (pgx's Batch.BeginTx). The transaction is then pgx's own, so COMMIT and
// ROLLBACK keep pgx's bookkeeping (a COMMIT answered ROLLBACK is
// pgx.ErrTxCommitRollback; a failed end closes the connection). A first
// Query, Prepare or Exec without arguments (the simple protocol, which
// may carry several statements), and a transaction with an isolation level
// or read-only, send the BEGIN on its own first, as before. A transaction
// that ran nothing ends without a round trip: nothing was opened on the
// server.

// Deferred writes.
//
// A statement whose result its caller does not need (Tx.ExecDeferred: an
// outbox row, a history or timeline row) need not cost a round trip of its
// own either. On PostgreSQL it waits on the connection and goes out in one
// pipeline with the transaction's next Exec, ahead of its next query, or
// with its COMMIT: a transaction of a read, a checked write and three
// deferred writes is four round trips (BEGIN, read, write, the deferred
// writes with the COMMIT) instead of seven. Its error is
// reported by the statement or the COMMIT it went out with, and the
// transaction fails as it would have. SAVEPOINT and RELEASE send what
// waits first, so a nested transaction's deferred writes fail inside it;
// ROLLBACK TO drops them unsent, since everything waiting was written
// after the last savepoint.

// openPostgres opens dsn through pgx with lazily sent BEGINs.
func openPostgres(dsn string) (*sql.DB, error) {
	dc, ok := stdlib.GetDefaultDriver().(driver.DriverContext)
	if !ok {
		return nil, errors.New("pgx's database/sql driver opens no connector")
	}
	c, err := dc.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(lazyBeginConnector{c}), nil
}

type lazyBeginConnector struct{ driver.Connector }

func (c lazyBeginConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("pgx's database/sql driver returned a %T", conn)
	}
	return &lazyBeginConn{Conn: pc}, nil
}

// lazyBeginConn is a pgx connection whose default transactions send BEGIN
// with their first Exec. database/sql uses a connection from one goroutine
// at a time, so its fields need no lock.
type lazyBeginConn struct {
	*stdlib.Conn
	// pending: a transaction has begun whose BEGIN has not been sent.
	pending bool
	// ctx is the pending transaction's (database/sql gives its COMMIT and
	// ROLLBACK none), tx pgx's transaction once the BEGIN is sent: its
	// Commit and Rollback are pgx's own.
	ctx context.Context
	tx  pgx.Tx
	// deferred are the statements ExecDeferred left to go out with the
	// transaction's next statement or its COMMIT, in order.
	deferred []queuedStatement
}

// queuedStatement is a deferred write and its arguments.
type queuedStatement struct {
	query string
	args  []any
}

type deferKey struct{}

// deferWrite marks a statement's context: its result is not needed, so it
// may wait for the transaction's next statement (Tx.ExecDeferred).
func deferWrite(ctx context.Context) context.Context { return context.WithValue(ctx, deferKey{}, true) }

// deferredResult is the result of a statement not yet sent.
type deferredResult struct{}

var errDeferredResult = errors.New("store: a deferred write has no result")

func (deferredResult) LastInsertId() (int64, error) { return 0, errDeferredResult }
func (deferredResult) RowsAffected() (int64, error) { return 0, errDeferredResult }

// inLazyTx reports whether a transaction begun by BeginTx is open.
func (c *lazyBeginConn) inLazyTx() bool { return c.pending || c.tx != nil }

// values are a statement's arguments; kept for later, they are copies: a
// caller may reuse a slice (bytes, or an array's elements) once the call
// that took it returns.
func values(argsV []driver.NamedValue, kept bool) []any {
	args := make([]any, len(argsV))
	for i, v := range argsV {
		if rv := reflect.ValueOf(v.Value); kept && rv.Kind() == reflect.Slice && !rv.IsNil() {
			c := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
			reflect.Copy(c, rv)
			v.Value = c.Interface()
		}
		args[i] = v.Value
	}
	return args
}

// sendQueued sends, in one pipeline, a pending BEGIN, the deferred writes
// and then the given statements (none, one, or a COMMIT), and returns the
// last one's command tag. After a failure the server's transaction is
// aborted (or never began), as after any failed statement.
func (c *lazyBeginConn) sendQueued(ctx context.Context, then ...queuedStatement) (pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	begin := c.pending
	if begin {
		b.BeginTx(pgx.TxOptions{})
	}
	first := len(b.QueuedQueries) // the deferred writes are [first, last)
	last := first + len(c.deferred)
	for _, q := range append(c.deferred, then...) {
		b.Queue(q.query, q.args...)
	}
	c.pending, c.deferred = false, nil
	br := c.Conn.Conn().SendBatch(ctx, b)
	if begin {
		c.tx = br.Tx()
	}
	var (
		tag pgconn.CommandTag
		err error
	)
	for i := range len(b.QueuedQueries) {
		if tag, err = br.Exec(); err != nil {
			if i >= first && i < last {
				err = fmt.Errorf("deferred write %.60q: %w", b.QueuedQueries[i].SQL, err)
			}
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && pgconn.SafeToRetry(err) {
		return tag, driver.ErrBadConn
	}
	return tag, err
}

// flush sends a pending BEGIN and the deferred writes before a statement
// that cannot go out with them.
func (c *lazyBeginConn) flush(ctx context.Context) error {
	if len(c.deferred) == 0 {
		return c.sendBegin(ctx)
	}
	_, err := c.sendQueued(ctx)
	return err
}

func (c *lazyBeginConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if sql.IsolationLevel(opts.Isolation) != sql.LevelDefault || opts.ReadOnly {
		return c.Conn.BeginTx(ctx, opts)
	}
	if c.Conn.Conn().IsClosed() {
		return nil, driver.ErrBadConn
	}
	c.pending, c.ctx, c.tx = true, ctx, nil
	return lazyTx{c}, nil
}

// sendBegin sends a pending transaction's BEGIN on its own.
func (c *lazyBeginConn) sendBegin(ctx context.Context) error {
	if !c.pending {
		return nil
	}
	c.pending = false
	tx, err := c.Conn.Conn().BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	c.tx = tx
	return nil
}

func (c *lazyBeginConn) ExecContext(ctx context.Context, query string, argsV []driver.NamedValue) (driver.Result, error) {
	// Without arguments pgx uses the simple protocol, which may carry
	// several statements (a migration); a batch's extended protocol cannot.
	if c.inLazyTx() && len(argsV) > 0 {
		if v, _ := ctx.Value(deferKey{}).(bool); v {
			c.deferred = append(c.deferred, queuedStatement{query, values(argsV, true)})
			return deferredResult{}, nil
		}
		if c.pending || len(c.deferred) > 0 {
			tag, err := c.sendQueued(ctx, queuedStatement{query, values(argsV, false)})
			if err != nil {
				return nil, err
			}
			return driver.RowsAffected(tag.RowsAffected()), nil
		}
	}
	if len(c.deferred) > 0 && isRollbackTo(query) {
		c.deferred = nil
	}
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.Conn.ExecContext(ctx, query, argsV)
}

// isRollbackTo reports whether query undoes writes back to a savepoint.
func isRollbackTo(query string) bool {
	return len(query) >= 11 && strings.EqualFold(query[:11], "ROLLBACK TO")
}

func (c *lazyBeginConn) QueryContext(ctx context.Context, query string, argsV []driver.NamedValue) (driver.Rows, error) {
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.Conn.QueryContext(ctx, query, argsV)
}

func (c *lazyBeginConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	// A prepared statement runs outside ExecContext: the transaction must
	// be open on the server, and what waits sent, before it can.
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.Conn.PrepareContext(ctx, query)
}

func (c *lazyBeginConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *lazyBeginConn) ResetSession(ctx context.Context) error {
	c.pending, c.ctx, c.tx, c.deferred = false, nil, nil, nil
	return c.Conn.ResetSession(ctx)
}

// lazyTx ends a transaction begun by lazyBeginConn.BeginTx.
type lazyTx struct{ c *lazyBeginConn }

func (t lazyTx) Commit() error {
	if c := t.c; len(c.deferred) > 0 {
		return c.commitDeferred()
	}
	return t.end(func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) })
}

func (t lazyTx) Rollback() error {
	t.c.deferred = nil // never sent: nothing to undo
	return t.end(func(ctx context.Context, tx pgx.Tx) error { return tx.Rollback(ctx) })
}

func (t lazyTx) end(f func(context.Context, pgx.Tx) error) error {
	c := t.c
	ctx, tx := c.ctx, c.tx
	c.pending, c.ctx, c.tx = false, nil, nil
	if tx == nil { // nothing ran: no transaction on the server
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return f(ctx, tx)
}

// commitDeferred sends the deferred writes and the COMMIT in one pipeline
// (with the BEGIN too when nothing else ran). A write that fails leaves
// the server's transaction aborted: it is rolled back and the commit fails
// with the write's error.
func (c *lazyBeginConn) commitDeferred() error {
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	defer func() { c.pending, c.ctx, c.tx = false, nil, nil }()
	tag, err := c.sendQueued(ctx, queuedStatement{query: "COMMIT"})
	if err != nil {
		if pc := c.Conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			if _, rerr := pc.Exec(ctx, "ROLLBACK").ReadAll(); rerr != nil {
				return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
		}
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}
