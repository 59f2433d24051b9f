package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names a supported database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ParseDialect accepts the driver names users write in config.
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(s) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return Postgres, nil
	}
	return "", fmt.Errorf("unknown database driver %q (want sqlite or postgres)", s)
}

// WithPostgresParam sets a PostgreSQL run-time parameter on the sessions a
// DSN opens (pgx sends a DSN's unknown settings as such), unless the DSN
// sets it already: an operator's own choice wins.
func WithPostgresParam(dsn, key, value string) (string, error) {
	if !strings.Contains(dsn, "://") {
		// The key=value form.
		for _, f := range strings.Fields(dsn) {
			if strings.HasPrefix(f, key+"=") {
				return dsn, nil
			}
		}
		return strings.TrimSpace(dsn + " " + key + "=" + value), nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error repeats the URL, password included: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("database URL: %w", err)
	}
	q := u.Query()
	if q.Has(key) {
		return dsn, nil
	}
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// DB is a database handle that knows its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// writeMu serialises SQLite writers inside the process. SQLite allows one
	// writer at a time; left to itself, a blocked writer sleeps in SQLite's
	// busy handler (up to 100ms a nap), which under load costs far more than
	// queueing on a mutex. An embedded database has exactly one process.
	writeMu *sync.Mutex
	// stmts caches prepared statements (SQLite only: pgx has its own cache).
	// The pure-Go SQLite spends a fifth of a service's CPU parsing SQL when
	// every Exec prepares its text anew.
	stmts *stmtCache
	// group lets concurrent SQLite transactions share a commit (nil for
	// PostgreSQL, which groups commits itself).
	group *groupCommit
	// stopCheckpoints ends the background WAL checkpoints (SQLite).
	stopCheckpoints chan struct{}
}

// Open connects and verifies the connection. For SQLite, dsn is a file path
// (or a "file:" URI); the pragmas that make it a safe service store are added.
func Open(ctx context.Context, d Dialect, dsn string) (*DB, error) {
	var (
		db  *sql.DB
		err error
	)
	switch d {
	case SQLite:
		// WAL lets readers run beside the single writer; a handful of
		// connections is enough and keeps lock waits short.
		db, err = sql.Open("sqlite", sqliteDSN(dsn))
		pool(db, 4)
	case Postgres:
		db, err = openPostgres(dsn)
		pool(db, 16)
	default:
		return nil, fmt.Errorf("open database: unknown dialect %q", d)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", d, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database: %w", d, err)
	}
	out := &DB{DB: db, Dialect: d}
	if d == SQLite {
		out.writeMu = &sync.Mutex{}
		out.stmts = newStmtCache(db)
		out.group = &groupCommit{}
		out.stopCheckpoints = make(chan struct{})
		go out.checkpoints(out.stopCheckpoints)
	}
	return out, nil
}

// poolIdleTime is how long an unused connection stays open: long enough to
// outlast any lull in a busy service, short enough that an idle county gives
// its PostgreSQL backends and SQLite page caches back.
const poolIdleTime = 5 * time.Minute

// pool sizes db's connection pool. Every connection the pool may open is also
// kept when it is returned: database/sql keeps two by default and closes the
// rest, and a connection is dear to reopen — a PostgreSQL backend forked and
// every statement prepared again, an SQLite page cache read in again. With the
// default, a PostgreSQL county at 100 petitions/s opened ≈ 30 connections a
// second and spent most of its CPU doing so.
func pool(db *sql.DB, size int) {
	if db == nil {
		return
	}
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	db.SetConnMaxIdleTime(poolIdleTime)
}

// lockWrites takes the SQLite writer lock; a no-op for PostgreSQL.
func (db *DB) lockWrites() func() {
	if db.writeMu == nil {
		return func() {}
	}
	db.writeMu.Lock()
	return db.writeMu.Unlock
}

// sqliteDSN adds the pragmas a concurrent service needs:
//   - WAL, a busy timeout instead of immediate SQLITE_BUSY, and IMMEDIATE
//     transactions so that a read-then-write transaction never fails on
//     lock upgrade;
//   - temp_store(MEMORY): group commit runs every member in a savepoint,
//     and with statement journals on disk each savepoint's first touch of a
//     page was a pwrite to a temporary file (a fifth of intake's and
//     supervision's CPU at load);
//   - wal_autocheckpoint(16384), a backstop at 64 MiB of WAL only: the
//     checkpoints run in the background (checkpoints), and one of many
//     commits copies a hot page (an index's tail, a counter) once;
//   - cache_size(-8192): 8 MiB of pages per connection (the default is 2),
//     since a service's hot index pages outgrow 2 MiB within a day's
//     petitions and each miss was a pread and a page parsed again. At most
//     four connections: 32 MiB under load, well inside a service's 256 MiB.
func sqliteDSN(dsn string) string {
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)" +
		"&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(16384)&_pragma=cache_size(-8192)"
}

// Rebind turns "?" placeholders into the dialect's form ($1, $2, … for
// PostgreSQL). Queries in this project never contain a literal "?".
func (db *DB) Rebind(q string) string { return Rebind(db.Dialect, q) }

// Rebind turns "?" placeholders into the dialect's form.
func Rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Tx is a transaction that rebinds placeholders and runs hooks after commit.
type Tx struct {
	*sql.Tx
	db          *DB
	dialect     Dialect
	stmts       *stmtCache
	bound       *boundStmts // shared by every Tx over the same *sql.Tx
	depth       int         // savepoint nesting of an ambient transaction
	mu          sync.Mutex
	afterCommit []func()
	spoiled     error // a nested transaction failed (WithRedoableTx)
}

// Dialect of the transaction's database.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// Exec runs a statement written with "?" placeholders.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = tx.statementContext(ctx)
	if st := tx.stmts.get(ctx, q); st != nil {
		return tx.bound.get(ctx, tx.Tx, st).ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, Rebind(tx.dialect, q), args...)
}

// ExecDeferred runs a write whose result the caller does not need. On
// PostgreSQL it goes out with the transaction's next statement or its
// COMMIT rather than in a round trip of its own (lazybegin.go), and its
// error is reported there: by the next Exec, Query or QueryRow, or by the
// commit. Only a write whose failure fails the transaction may be
// deferred. On SQLite, where a statement is a call, it runs at once.
func (tx *Tx) ExecDeferred(ctx context.Context, q string, args ...any) error {
	if tx.dialect != Postgres {
		_, err := tx.Exec(ctx, q, args...)
		return err
	}
	_, err := tx.Tx.ExecContext(deferWrite(ctx), Rebind(tx.dialect, q), args...)
	return err
}

// Query runs a query written with "?" placeholders.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = tx.statementContext(ctx)
	if st := tx.stmts.get(ctx, q); st != nil {
		return tx.bound.get(ctx, tx.Tx, st).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, Rebind(tx.dialect, q), args...)
}

// QueryRow runs a single-row query written with "?" placeholders.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = tx.statementContext(ctx)
	if st := tx.stmts.get(ctx, q); st != nil {
		return tx.bound.get(ctx, tx.Tx, st).QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, Rebind(tx.dialect, q), args...)
}

// statementContext is the context a statement of the transaction runs
// under. For every statement under a cancellable context, the SQLite driver
// starts a goroutine that waits to interrupt it, and database/sql another
// for each Rows: a tenth of a service's allocations at load, for
// statements that take microseconds. On SQLite a statement of a
// transaction therefore runs uncancellable, and the context is checked
// before it instead: a caller that gave up stops the transaction at its
// next statement. (A context already done is passed on as it is, for the
// driver to report.)
func (tx *Tx) statementContext(ctx context.Context) context.Context {
	if tx.dialect != SQLite || ctx.Done() == nil || ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// AfterCommit registers f to run once the transaction has committed; it is
// how the outbox wakes its relay without polling.
func (tx *Tx) AfterCommit(f func()) {
	tx.mu.Lock()
	tx.afterCommit = append(tx.afterCommit, f)
	tx.mu.Unlock()
}

// InTx runs f in a transaction: committed when f returns nil, rolled back
// otherwise (and on panic).
func (db *DB) InTx(ctx context.Context, f func(tx *Tx) error) (err error) {
	if outer, redo := db.ambient(ctx); outer != nil {
		if redo {
			return outer.redoable(f)
		}
		return outer.nested(ctx, f)
	}
	var tx *Tx
	if db.group != nil {
		tx, err = db.inGroup(ctx, f)
	} else {
		tx, err = db.inTx(ctx, f)
	}
	if err != nil {
		return err
	}
	// Hooks run after the writer lock is released: they may start writes.
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}

func (db *DB) inTx(ctx context.Context, f func(tx *Tx) error) (*Tx, error) {
	defer db.lockWrites()()
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Tx: sqlTx, db: db, dialect: db.Dialect, stmts: db.stmts, bound: &boundStmts{}}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := f(tx); err != nil {
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return nil, errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return nil, err
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("commit transaction: %w", err)
	}
	return tx, nil
}

// Close releases the cached statements and closes the database.
func (db *DB) Close() error {
	if db.stopCheckpoints != nil {
		close(db.stopCheckpoints)
		db.stopCheckpoints = nil
	}
	db.stmts.close()
	return db.DB.Close()
}

// Exec runs a statement written with "?" placeholders outside a transaction.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if tx, _ := db.ambient(ctx); tx != nil {
		return tx.Exec(ctx, q, args...)
	}
	defer db.lockWrites()()
	if st := db.stmts.get(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return db.DB.ExecContext(ctx, db.Rebind(q), args...)
}

// Query runs a query written with "?" placeholders outside a transaction.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if tx, _ := db.ambient(ctx); tx != nil {
		return tx.Query(ctx, q, args...)
	}
	if st := db.stmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.DB.QueryContext(ctx, db.Rebind(q), args...)
}

// QueryRow runs a single-row query written with "?" placeholders.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if tx, _ := db.ambient(ctx); tx != nil {
		return tx.QueryRow(ctx, q, args...)
	}
	if st := db.stmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.DB.QueryRowContext(ctx, db.Rebind(q), args...)
}
