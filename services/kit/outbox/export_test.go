package outbox

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"xinfang.io/services/kit/store"
)

// SetAfterPublish installs the hook that runs between publish and mark-sent.
func (r *Relay) SetAfterPublish(f func()) { r.afterPublish = f }

// SetNow sets the outbox's clock (enqueue, mark-sent and purge times).
func (o *Outbox) SetNow(now func() time.Time) { o.now = now }

// NextPoll exposes the relay's fallback interval after a pass.
func (r *Relay) NextPoll(last time.Duration, busy bool) time.Duration { return r.nextPoll(last, busy) }

// Passes is how many passes the relay has made over the outbox.
func (r *Relay) Passes() float64 { return testutil.ToFloat64(r.passes) }

// UnsentQuery is the relay's read of its unsent rows.
func UnsentQuery(d store.Dialect, limit int) string { return unsentQuery(d, limit) }

// MarkAndReadQuery is the relay's read that marks the last run sent first.
func MarkAndReadQuery(limit int) string { return markAndReadQuery(limit) }

// Acquire takes the county's lock as Run does and returns the connection the
// relay then reads on (nil on SQLite).
func (r *Relay) Acquire(ctx context.Context) (release func(), reads *sql.Conn, err error) {
	release, err = r.acquire(ctx)
	return release, r.reads, err
}

// LockKey is the county's advisory lock key (PostgreSQL).
func (r *Relay) LockKey() int64 { return r.lockKey() }
