package outbox_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/brokertest"
	kt "xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// A PostgreSQL outbox after a run of sends and before vacuum: every sent
// row left its entry in the unsent index. The planner reads such a table
// by a bitmap scan, which rechecks each of those entries on every read;
// the relay's connection reads it by an index scan, which marks them dead
// once and skips them after.
func TestRelayReadsUnsentRowsByIndexScan(t *testing.T) {
	ctx := context.Background()
	db := storetest.Postgres(t)
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		// Keep the table as a busy county's is between autovacuum rounds.
		`ALTER TABLE outbox SET (autovacuum_enabled = false)`,
		`INSERT INTO outbox (event_id, topic, msg_key, payload, headers, created_at)
			SELECT 'e' || i, 't', 'k', decode(repeat('ab', 300), 'hex'), '{}', '2026-11-22T00:00:00Z'
			FROM generate_series(1, 3000) AS i`,
		`UPDATE outbox SET sent_at = '2026-11-22T00:00:01Z'`,
		`INSERT INTO outbox (event_id, topic, msg_key, payload, headers, created_at)
			SELECT 'u' || i, 't', 'k', 'v', '{}', '2026-11-22T00:00:02Z' FROM generate_series(1, 3) AS i`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	explain := "EXPLAIN (COSTS OFF) " + outbox.UnsentQuery(db.Dialect, 256)
	plan := func(rows *sql.Rows, err error) string {
		t.Helper()
		return strings.Join(column(t, rows, err), "\n")
	}

	// What any other connection plans: the failure this avoids. Should a
	// later PostgreSQL plan it well, this test no longer shows the relay's
	// settings matter, and says so.
	if p := plan(db.Query(ctx, explain)); !strings.Contains(p, "Bitmap Heap Scan") {
		t.Fatalf("a pooled connection no longer plans the unsent read as a bitmap scan; revisit the relay's settings:\n%s", p)
	}

	relay := outbox.NewRelay(outbox.New(db, "tplan"), nil, outbox.RelayConfig{}, nil, nil)
	release, conn, err := relay.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	p := plan(conn.QueryContext(ctx, explain))
	if !strings.Contains(p, "Index Scan using outbox_unsent") || strings.Contains(p, "Bitmap") {
		t.Fatalf("the relay's connection plans its read as\n%s\nwant an index scan of outbox_unsent", p)
	}
	// The read that carries the last run's mark plans the same way.
	p = plan(conn.QueryContext(ctx, "EXPLAIN (COSTS OFF) "+outbox.MarkAndReadQuery(256), "2026-11-22T00:00:03Z", []int64{3001}))
	if !strings.Contains(p, "Index Scan using outbox_unsent") || strings.Contains(p, "Bitmap") {
		t.Fatalf("the relay's connection plans its marking read as\n%s\nwant an index scan of outbox_unsent", p)
	}
	var ids []int64
	rows, err := conn.QueryContext(ctx, outbox.UnsentQuery(db.Dialect, 256))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			id            int64
			topic, header string
			key, value    []byte
		)
		if err := rows.Scan(&id, &topic, &key, &value, &header); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 3 || ids[0] != 3001 || ids[2] != 3003 {
		t.Fatalf("unsent rows read on the relay's connection: %v, want 3001..3003", ids)
	}
}

// The relay reads only while it holds the county's lock: when the lock's
// connection dies (a database restart, a terminated backend) the lock goes
// with it, and the relay takes it again before it publishes more.
func TestRelayTakesTheLockAgainWhenItsConnectionDies(t *testing.T) {
	c := newPGCounty(t)
	relay := outbox.NewRelay(c.ob, c.pub, outbox.RelayConfig{Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond}, nil, nil)
	stop := running(relay)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()

	holder := func() int { return lockHolder(t, c.db, relay.LockKey()) }
	c.publish(t, "case-1", 1)
	// Its mark goes with the next pass's read, 10ms on; a lock lost before
	// that marks it through the pool (TestRelayMarksItsLastRun…).
	waitFor(t, "the first row marked sent", func() bool { return len(c.unsent(t)) == 0 })
	first := holder()
	if first == 0 {
		t.Fatal("no backend holds the relay's lock")
	}
	terminate(t, c.db, first)

	c.publish(t, "case-2", 2)
	if again := holder(); again == 0 || again == first {
		t.Fatalf("lock holder after the connection died: backend %d (before: %d), want a new one", again, first)
	}
}

// Holding the lock, the relay marks a published run sent with its next
// read, in the same statement; the run it publishes last is marked by the
// final pass when it stops. Before that mark, a row counts as pending.
func TestRelayMarksARunWithItsNextRead(t *testing.T) {
	c := newPGCounty(t)
	_, stop := c.startMarked(t)
	c.publish(t, "case-1", 2)
	first := c.unsent(t)
	if len(first) != 1 {
		t.Fatalf("unsent rows after case-1's pass: %v, want its row, the mark waiting for the next read", first)
	}
	c.publish(t, "case-2", 3)
	if second := c.unsent(t); len(second) != 1 || second[0] == first[0] {
		t.Fatalf("unsent rows after case-2's pass: %v, want only case-2's (case-1's was %v)", second, first)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c.wantAllSentOnce(t, 3)
}

// A shutdown that finds the lock's connection dead (a cancelled read breaks
// it, as does a terminated backend) still marks the run published last,
// through the pool: the relay published those rows whoever holds the lock.
func TestRelayMarksItsLastRunWhenItsLockConnectionIsGoneAtShutdown(t *testing.T) {
	c := newPGCounty(t)
	relay, stop := c.startMarked(t)
	c.publish(t, "case-1", 2)
	if left := c.unsent(t); len(left) != 1 {
		t.Fatalf("unsent rows after case-1's pass: %v, want its row", left)
	}
	terminate(t, c.db, lockHolder(t, c.db, relay.LockKey()))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c.wantAllSentOnce(t, 2)
}

// pgCounty is a new county's migrated PostgreSQL outbox, a publisher to its
// broker, and its petitions topic.
type pgCounty struct {
	brokers []string
	db      *store.DB
	ob      *outbox.Outbox
	pub     *kt.Publisher
	topic   string
}

func newPGCounty(t *testing.T) *pgCounty {
	brokers := brokertest.Start(t)
	db := storetest.Postgres(t)
	ob, county := migratedOutbox(t, db, brokers)
	return &pgCounty{brokers: brokers, db: db, ob: ob, pub: publisher(t, brokers), topic: topicOf(county, eventsv1.StreamPetitions)}
}

// publish registers a case and waits until the topic holds n messages.
func (c *pgCounty) publish(t *testing.T, caseID string, n int64) {
	t.Helper()
	if err := register(context.Background(), c.db, c.ob, caseID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, caseID+" published", func() bool { return topicSize(t, c.brokers, c.topic) == n })
}

// unsent are the event ids of the outbox's unsent rows, in order.
func (c *pgCounty) unsent(t *testing.T) []string {
	t.Helper()
	rows, err := c.db.Query(context.Background(), `SELECT event_id FROM outbox WHERE sent_at IS NULL ORDER BY id`)
	return column(t, rows, err)
}

// startMarked starts a relay that only commits wake (the fallback poll is an
// hour) once it has published and marked case-0: committed before the
// relay starts, its row goes out in the first pass, and its commit's wake,
// waiting since, makes the pass that marks it.
func (c *pgCounty) startMarked(t *testing.T) (*outbox.Relay, func() error) {
	t.Helper()
	c.publish(t, "case-0", 0)
	relay := outbox.NewRelay(c.ob, c.pub, outbox.RelayConfig{Poll: time.Hour}, nil, nil)
	stop := running(relay)
	waitFor(t, "case-0 published and marked", func() bool { return topicSize(t, c.brokers, c.topic) == 1 && len(c.unsent(t)) == 0 })
	return relay, stop
}

// wantAllSentOnce requires no unsent row and n messages in the topic.
func (c *pgCounty) wantAllSentOnce(t *testing.T, n int64) {
	t.Helper()
	if left := c.unsent(t); len(left) != 0 {
		t.Fatalf("unsent rows after the relay stopped: %v, want none", left)
	}
	if got := topicSize(t, c.brokers, c.topic); got != n {
		t.Fatalf("topic holds %d messages, want %d, each row once", got, n)
	}
}

// running runs relay until the returned stop, which returns Run's error.
func running(relay *outbox.Relay) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	return func() error { cancel(); return <-done }
}

// column reads a query's one text column.
func column(t *testing.T, rows *sql.Rows, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lockHolder is the backend holding the advisory lock key, 0 when none.
func lockHolder(t *testing.T, db *store.DB, key int64) int {
	t.Helper()
	var pid int
	err := db.QueryRow(context.Background(), `SELECT COALESCE(MAX(pid), 0) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid = ? AND objid = ?`,
		uint32(uint64(key)>>32), uint32(uint64(key))).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// terminate ends a backend, as a database restart or an administrator would.
func terminate(t *testing.T, db *store.DB, pid int) {
	t.Helper()
	var ok bool
	if err := db.QueryRow(context.Background(), `SELECT pg_terminate_backend(?)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate backend %d: %v %v", pid, ok, err)
	}
}
