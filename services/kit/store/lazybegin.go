package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

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
	if !c.pending || len(argsV) == 0 {
		if err := c.sendBegin(ctx); err != nil {
			return nil, err
		}
		return c.Conn.ExecContext(ctx, query, argsV)
	}
	c.pending = false
	args := make([]any, len(argsV))
	for i, v := range argsV {
		args[i] = v.Value
	}
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(query, args...)
	br := c.Conn.Conn().SendBatch(ctx, b)
	c.tx = br.Tx()
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if pgconn.SafeToRetry(err) {
			return nil, driver.ErrBadConn
		}
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

func (c *lazyBeginConn) QueryContext(ctx context.Context, query string, argsV []driver.NamedValue) (driver.Rows, error) {
	if err := c.sendBegin(ctx); err != nil {
		return nil, err
	}
	return c.Conn.QueryContext(ctx, query, argsV)
}

func (c *lazyBeginConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	// A prepared statement runs outside ExecContext: the transaction must
	// be open on the server before it can.
	if err := c.sendBegin(ctx); err != nil {
		return nil, err
	}
	return c.Conn.PrepareContext(ctx, query)
}

func (c *lazyBeginConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *lazyBeginConn) ResetSession(ctx context.Context) error {
	c.pending, c.ctx, c.tx = false, nil, nil
	return c.Conn.ResetSession(ctx)
}

// lazyTx ends a transaction begun by lazyBeginConn.BeginTx.
type lazyTx struct{ c *lazyBeginConn }

func (t lazyTx) Commit() error {
	return t.end(func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) })
}

func (t lazyTx) Rollback() error {
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
