package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"xinfang.io/services/kit/store"
)

// Publisher is what the relay publishes with (kafkatransport.Publisher).
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}

// RelayConfig tunes a relay. Zero values take the defaults noted.
type RelayConfig struct {
	// Batch is the most rows published in one write (default 256).
	Batch int
	// Poll is the fallback polling interval when no commit woke the relay
	// (default 250ms); commits through Enqueue wake it at once. While passes
	// find nothing the interval doubles, up to IdlePoll.
	Poll time.Duration
	// IdlePoll is the longest fallback interval, reached when the outbox
	// stays empty (default 2s). The fallback only finds rows that no local
	// commit announced — another replica's on PostgreSQL, where one relay
	// holds the county's lock — so an idle relay need not ask four times a
	// second: at 2,800 counties that was ≈ 45,000 reads a second on the
	// shared database with nothing happening.
	IdlePoll time.Duration
	// Retention keeps sent rows this long for inspection (default 24h).
	Retention time.Duration
	// Backoff bounds the wait after a failed publish (default 1s).
	Backoff time.Duration
}

// Relay publishes committed outbox rows in order and marks them sent.
type Relay struct {
	ob   *Outbox
	pub  Publisher
	cfg  RelayConfig
	log  *slog.Logger
	lock string

	published prometheus.Counter
	failures  prometheus.Counter
	backlog   prometheus.Gauge
	passes    prometheus.Counter

	// reads is, on PostgreSQL while Run holds the county's lock, the lock's
	// connection: the relay reads its unsent rows there (see acquire).
	reads *sql.Conn

	// unmarked holds, while reads is set, the ids of the last run published
	// and not yet marked sent. Their mark goes out in one statement with the
	// next read, a round trip fewer each pass: at a county's usual rate a
	// pass publishes a row or two, and the mark was half its statements. At
	// shutdown and when the lock's connection dies they are marked through
	// the pool (markUnmarked); a crash before then publishes them once more,
	// which consumers' inboxes drop, as for a crash between publish and mark.
	unmarked []int64

	// afterPublish runs between publish and mark-sent; tests use it to crash
	// the process exactly there.
	afterPublish func()
}

// NewRelay returns a relay for ob. Metrics register on reg when not nil.
func NewRelay(ob *Outbox, pub Publisher, cfg RelayConfig, reg prometheus.Registerer, log *slog.Logger) *Relay {
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.IdlePoll < cfg.Poll {
		cfg.IdlePoll = max(2*time.Second, cfg.Poll)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Relay{
		ob: ob, pub: pub, cfg: cfg, log: log.With("component", "outbox-relay"),
		lock: "xinfang.outbox." + ob.county,
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xinfang_outbox_relay_passes_total", Help: "Relay passes over the outbox (each reads its unsent rows), woken or polled.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xinfang_outbox_published_total", Help: "Outbox rows published to Kafka.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xinfang_outbox_publish_failures_total", Help: "Failed outbox publish attempts (retried).",
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xinfang_outbox_pending", Help: "Outbox rows not yet published, at the last relay pass.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.published, r.failures, r.backlog, r.passes)
	}
	return r
}

// Run publishes until ctx is cancelled, then makes one last pass so that
// events committed just before shutdown go out with it.
func (r *Relay) Run(ctx context.Context) error {
	release, err := r.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() { release() }()
	wait := r.cfg.Poll
	poll := time.NewTimer(wait)
	defer poll.Stop()
	purge := time.NewTicker(time.Minute)
	defer purge.Stop()
	woke := true // the first pass counts as busy: start at the short interval
	for {
		n, err := r.Drain(ctx)
		if err != nil && ctx.Err() == nil {
			r.failures.Inc()
			r.log.ErrorContext(ctx, "outbox publish failed; will retry", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(r.cfg.Backoff):
			}
			if r.reads != nil && ctx.Err() == nil && r.reads.PingContext(ctx) != nil {
				// The lock's connection is gone and the lock with it: another
				// replica may hold it now. Publish again only once it is ours.
				r.log.WarnContext(ctx, "outbox relay lost its lock connection; taking the lock again")
				if err := r.markUnmarked(ctx); err != nil {
					r.unmarked = r.unmarked[:0] // the next holder publishes them again
				}
				release()
				if release, err = r.acquire(ctx); err != nil {
					release = func() {}
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
		}
		wait = r.nextPoll(wait, woke || n > 0 || err != nil)
		poll.Reset(wait)
		woke = false
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := r.Drain(final); err != nil {
				r.log.Warn("final outbox pass failed; rows stay for the next start", "error", err)
			}
			// Through the pool: the pass may have failed because the lock's
			// connection did (a shutdown cancelling its read breaks it).
			if err := r.markUnmarked(final); err != nil {
				r.log.Warn("final outbox mark failed; the last rows go out again at the next start", "error", err)
			}
			return nil
		case <-r.ob.wake:
			woke = true
		case <-poll.C:
		case <-purge.C:
			if err := r.Purge(ctx); err != nil {
				r.log.WarnContext(ctx, "outbox purge failed", "error", err)
			}
		}
	}
}

// nextPoll is the fallback interval after a pass: the short one after a
// busy pass (woken by a commit, rows published, or a failure to retry),
// twice the last one, up to IdlePoll, while the outbox stays empty.
func (r *Relay) nextPoll(last time.Duration, busy bool) time.Duration {
	if busy {
		return r.cfg.Poll
	}
	return min(2*last, r.cfg.IdlePoll)
}

// Drain publishes every unsent row now, batch by batch, and returns how many
// it published. While Run holds the lock on PostgreSQL, the last run's mark
// waits for the next pass's read (see unmarked); otherwise every run is
// marked sent before Drain returns.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	r.passes.Inc()
	total := 0
	for {
		rows, err := r.ob.unsent(ctx, r.reads, r.cfg.Batch, r.unmarked)
		if err != nil {
			return total, err
		}
		r.unmarked = r.unmarked[:0]
		if len(rows) == 0 {
			r.backlog.Set(0)
			return total, nil
		}
		msgs := make([]kafka.Message, len(rows))
		ids := make([]int64, len(rows))
		for i, rw := range rows {
			msgs[i], ids[i] = rw.msg, rw.id
		}
		if err := r.pub.Publish(ctx, msgs...); err != nil {
			return total, fmt.Errorf("outbox relay: %w", err)
		}
		if r.afterPublish != nil {
			r.afterPublish()
		}
		if r.reads != nil {
			r.unmarked = append(r.unmarked, ids...)
		} else if err := r.ob.markSent(ctx, ids); err != nil {
			// Published but not marked: the rows go out again next pass and
			// consumers' inboxes drop the duplicates.
			return total, fmt.Errorf("outbox relay: mark sent: %w", err)
		}
		total += len(rows)
		r.published.Add(float64(len(rows)))
		if len(rows) < r.cfg.Batch {
			r.backlog.Set(0)
			return total, nil
		}
	}
}

// Purge deletes rows sent longer ago than the retention (on SQLite: sent,
// and enqueued longer ago than it).
func (r *Relay) Purge(ctx context.Context) error {
	cutoff := store.FormatTime(r.ob.now().Add(-r.cfg.Retention))
	if r.ob.db.Dialect != store.SQLite {
		if _, err := r.ob.db.Exec(ctx, `DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?`, cutoff); err != nil {
			return fmt.Errorf("outbox purge: %w", err)
		}
		return nil
	}
	// Rows are enqueued in id order: the first sent row inside the
	// retention bounds what goes, and finding it reads only what goes.
	var keep int64
	err := r.ob.db.QueryRow(ctx, `SELECT COALESCE(MIN(id), (SELECT sent_upto + 1 FROM outbox_relay WHERE id = 1))
		FROM outbox WHERE id <= (SELECT sent_upto FROM outbox_relay WHERE id = 1) AND created_at >= ?`, cutoff).Scan(&keep)
	if err != nil {
		return fmt.Errorf("outbox purge: %w", err)
	}
	if _, err := r.ob.db.Exec(ctx, `DELETE FROM outbox WHERE id < ?`, keep); err != nil {
		return fmt.Errorf("outbox purge: %w", err)
	}
	return nil
}

// acquire makes this relay the only one publishing the county's outbox, so
// replicas sharing a PostgreSQL database keep rows in order. It holds a
// session advisory lock on a dedicated connection; if the process dies the
// lock goes with its connection. An embedded SQLite database belongs to one
// process, which needs no lock.
//
// The relay reads its unsent rows on that connection (r.reads), so it reads
// only while it holds the lock, and with bitmap and sequential scans off.
// Marking a row sent leaves its entry in the unsent index until vacuum; a
// plain index scan marks such entries dead the first time it meets them
// and skips them after, but a bitmap scan rechecks every one on every read,
// and the planner picks one whenever the table's statistics are stale — a
// fresh county's outbox, or one between autovacuum rounds. Measured on a
// fresh county at 100 petitions/s: reads of 5–24 ms over 200–550 buffers
// before the first autovacuum, against 0.06 ms over 1–4 after.
func (r *Relay) acquire(ctx context.Context) (func(), error) {
	if r.ob.db.Dialect != store.Postgres {
		return func() {}, nil
	}
	key := r.lockKey()
	conn, err := r.ob.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox relay: lock connection: %w", err)
	}
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			conn.Close()
			return nil, fmt.Errorf("outbox relay: advisory lock: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	for _, set := range []string{`SET enable_bitmapscan = off`, `SET enable_seqscan = off`} {
		if _, err := conn.ExecContext(ctx, set); err != nil {
			conn.Close()
			return nil, fmt.Errorf("outbox relay: %s: %w", set, err)
		}
	}
	r.reads = conn
	return func() {
		r.reads = nil
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, key)
		conn.Close()
	}, nil
}

// lockKey is the county's advisory lock key.
func (r *Relay) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte(r.lock))
	return int64(h.Sum64())
}

// row is one stored, unsent outbox entry.
type row struct {
	id  int64
	msg kafka.Message
}

// markUnmarked marks the published run that waits for the next read, now,
// through the pool: marking rows this relay published is right with or
// without the lock.
func (r *Relay) markUnmarked(ctx context.Context) error {
	if len(r.unmarked) == 0 {
		return nil
	}
	if err := r.ob.markSent(ctx, r.unmarked); err != nil {
		return fmt.Errorf("outbox relay: mark sent: %w", err)
	}
	r.unmarked = r.unmarked[:0]
	return nil
}

// unsent reads the first unsent rows in id order, on conn when there is one
// (PostgreSQL), marking the rows in sent first in the same statement.
func (o *Outbox) unsent(ctx context.Context, conn *sql.Conn, limit int, sent []int64) ([]row, error) {
	var (
		rs  *sql.Rows
		err error
	)
	switch {
	case conn != nil && len(sent) > 0:
		rs, err = conn.QueryContext(ctx, markAndReadQuery(limit), store.FormatTime(o.now()), sent)
	case conn != nil:
		rs, err = conn.QueryContext(ctx, unsentQuery(o.db.Dialect, limit))
	default:
		q := unsentQuery(o.db.Dialect, limit)
		rs, err = o.db.Query(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: read unsent: %w", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var (
			rw      row
			headers string
		)
		if err := rs.Scan(&rw.id, &rw.msg.Topic, &rw.msg.Key, &rw.msg.Value, &headers); err != nil {
			return nil, fmt.Errorf("outbox: read unsent: %w", err)
		}
		if rw.msg.Headers, err = decodeHeaders(headers); err != nil {
			return nil, fmt.Errorf("outbox: row %d: %w", rw.id, err)
		}
		out = append(out, rw)
	}
	return out, rs.Err()
}

// unsentQuery reads the first limit unsent rows in id order.
func unsentQuery(d store.Dialect, limit int) string {
	if d == store.SQLite {
		return `SELECT id, topic, msg_key, payload, headers FROM outbox
			WHERE id > (SELECT sent_upto FROM outbox_relay WHERE id = 1) ORDER BY id` + store.Limit(limit)
	}
	return `SELECT id, topic, msg_key, payload, headers FROM outbox WHERE sent_at IS NULL ORDER BY id` + store.Limit(limit)
}

// markAndReadQuery marks the rows of $2 sent at $1 and reads the first
// limit unsent rows after them, in one statement (PostgreSQL). Its query
// sees the table as it was before its UPDATE, so it leaves out the rows it
// marks by id.
func markAndReadQuery(limit int) string {
	return `WITH sent AS (UPDATE outbox SET sent_at = $1 WHERE id = ANY($2))
		SELECT id, topic, msg_key, payload, headers FROM outbox
		WHERE sent_at IS NULL AND id <> ALL($2) ORDER BY id` + store.Limit(limit)
}

// markSent records rows as published: ids are a run read by unsent, in
// order (on SQLite the position moves to the last of them).
func (o *Outbox) markSent(ctx context.Context, ids []int64) error {
	if o.db.Dialect == store.SQLite {
		last := ids[len(ids)-1]
		_, err := o.db.Exec(ctx, `UPDATE outbox_relay SET sent_upto = ? WHERE id = 1 AND sent_upto < ?`, last, last)
		return err
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	args := make([]any, 0, len(ids)+1)
	args = append(args, store.FormatTime(o.now()))
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := o.db.Exec(ctx, `UPDATE outbox SET sent_at = ? WHERE id IN (`+ph+`)`, args...)
	return err
}

// Pending counts unsent rows.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	q := `SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL`
	if o.db.Dialect == store.SQLite {
		q = `SELECT COUNT(*) FROM outbox WHERE id > (SELECT sent_upto FROM outbox_relay WHERE id = 1)`
	}
	var n int
	if err := o.db.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox: count pending: %w", err)
	}
	return n, nil
}
