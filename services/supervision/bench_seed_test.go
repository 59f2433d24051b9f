package supervision

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

// timersPerCase is what an accepted case's handling clock plans under the
// Anji rules: reminders at 50%, 75% and 3 days before, the overdue notice
// and four ladder steps.
const timersPerCase = 8

// seedAcceptedCases stores n accepted complaint cases of 人社局 (assigned,
// acknowledged and accepted on the clock's day), built by the state machine
// and stored by the service's own persist with their timers, 500 cases per
// transaction: the database a restarted worker finds, without the cost of
// one API call per action.
func seedAcceptedCases(ctx context.Context, s *Supervision, n int) error {
	cfg := s.config()
	env := s.env(cfg)
	const chunk = 500
	for lo := 0; lo < n; lo += chunk {
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			for i := lo; i < min(lo+chunk, n); i++ {
				r, err := casemachine.Route(nil, assigned(fmt.Sprintf("t%08d", i), "rsj", env.Now), env)
				if err != nil {
					return err
				}
				c := r.Case
				for _, a := range []casemachine.Action{casemachine.ActAcknowledge, casemachine.ActAccept} {
					r, err := casemachine.Act(c, casemachine.Command{Action: a}, env)
					if err != nil {
						return err
					}
					c = r.Case
				}
				if err := s.persist(ctx, tx, nil, &casemachine.Result{Case: c}, cfg); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed cases %d…: %w", lo, err)
		}
	}
	return nil
}

// Seeded scan databases are kept for the whole process (the benchmark
// function runs several times while the framework sizes b.N) and removed by
// TestMain.
var (
	scanMu       sync.Mutex
	scanDBs      = map[string]*store.DB{}
	benchCleanup []func()
)

// withSearchPath points a PostgreSQL DSN at a schema.
func withSearchPath(b *testing.B, dsn, schema string) string {
	b.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// scanDueCount is how many timers are due in the scan database.
const scanDueCount = 1000

// scanDatabase returns a migrated database of the dialect holding size open
// cases with timersPerCase unfired timers each, and the instant at which
// exactly scanDueCount of them are due.
func scanDatabase(b *testing.B, d store.Dialect, size int) (*store.DB, time.Time) {
	b.Helper()
	base := at("2026-06-01 00:00")
	now := base.Add(scanDueCount*time.Minute - time.Second)
	key := fmt.Sprintf("%s/%d", d, size)
	scanMu.Lock()
	defer scanMu.Unlock()
	if db := scanDBs[key]; db != nil {
		return db, now
	}
	ctx := context.Background()
	var dsn string
	switch d {
	case store.SQLite:
		dir, err := os.MkdirTemp("", "xinfang-scan-")
		if err != nil {
			b.Fatal(err)
		}
		benchCleanup = append(benchCleanup, func() { os.RemoveAll(dir) })
		dsn = filepath.Join(dir, "scan.db")
	case store.Postgres:
		admin, err := store.Open(ctx, store.Postgres, storetest.PostgresDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		schema := fmt.Sprintf("bench_scan_%d_%d", size, os.Getpid())
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			b.Fatal(err)
		}
		benchCleanup = append(benchCleanup, func() {
			_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		})
		dsn = withSearchPath(b, storetest.PostgresDSN(b), schema)
	}
	db, err := store.Open(ctx, d, dsn)
	if err != nil {
		b.Fatal(err)
	}
	benchCleanup = append(benchCleanup, func() { db.Close() })
	if err := migrateAll(ctx, db); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := seedScan(ctx, db, size, base); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d open cases and %d timers on %s in %v", size, size*timersPerCase, d, time.Since(start).Round(time.Millisecond))
	scanDBs[key] = db
	return db, now
}

// seedScan inserts size open cases and their timers with INSERT … SELECT
// over a generated series, 100,000 cases per transaction. Timer k (in firing
// order) fires k minutes after base, so the due range is known exactly.
func seedScan(ctx context.Context, db *store.DB, size int, base time.Time) error {
	const chunk = 100_000
	for lo := 0; lo < size; lo += chunk {
		hi := min(lo+chunk, size)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for _, q := range scanSeedSQL(db.Dialect) {
				if _, err := tx.Exec(ctx, q, lo, hi-1, base.Unix()); err != nil {
					return fmt.Errorf("seed %d…%d: %w", lo, hi, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Fresh statistics, as a database that has been running has.
	_, err := db.Exec(ctx, map[store.Dialect]string{store.SQLite: "ANALYZE", store.Postgres: "ANALYZE"}[db.Dialect])
	return err
}

// caseJSON is a compact but complete accepted case document; %s is the id.
const caseJSON = `{"caseId":"%s","county":"anji","state":"accepted","category":"complaint","department":"rsj","attempt":1,"assignedOn":"2026-06-01","clocks":[{"clock":"handling","start":"2026-06-01","days":60,"unit":"days","due":"2026-07-31","status":"running"}],"lastAt":"2026-06-01T01:00:00Z","seq":3}`

// scanSeedSQL inserts cases lo…hi (the first two arguments, inclusive) and
// their timers; the third argument is the base instant (Unix seconds).
func scanSeedSQL(d store.Dialect) []string {
	if d == store.Postgres {
		// $n placeholders (store.Rebind leaves a text without "?" alone);
		// every statement names all three so their types are known.
		id := `'s' || lpad(i::text, 8, '0')`
		series := `generate_series($1::int, $2::int) AS i`
		return []string{
			`INSERT INTO supervision_cases (case_id, state, category, department, next_due, imported, data, updated_at)
SELECT ` + id + `, 'accepted', 'complaint', 'rsj', '2026-07-31', 0, format('` + caseJSON + `', ` + id + `), '2026-06-01T01:00:00.000000Z'
FROM ` + series + ` WHERE $3::bigint IS NOT NULL`,
			`INSERT INTO supervision_case_access (department, case_id) SELECT 'rsj', ` + id + ` FROM ` + series + ` WHERE $3::bigint IS NOT NULL`,
			`INSERT INTO supervision_timers (case_id, timer_key, kind, clock, step, step_kind, clock_due, fire_at, notify_leader)
SELECT ` + id + `, 'handling|2026-07-31|k|' || j, CASE WHEN j < 3 THEN 'reminder' WHEN j = 3 THEN 'overdue' ELSE 'escalation' END,
	'handling', GREATEST(j - 3, 0), '', '2026-07-31',
	to_char(to_timestamp($3::bigint + (i * 8 + j) * 60) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '.000000Z', 0
FROM ` + series + `, generate_series(0, 7) AS j ORDER BY i, j`,
		}
	}
	id := `printf('s%08d', i)`
	series := `WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) `
	return []string{
		series + `INSERT INTO supervision_cases (case_id, state, category, department, next_due, imported, data, updated_at)
SELECT ` + id + `, 'accepted', 'complaint', 'rsj', '2026-07-31', 0, printf('` + caseJSON + `', ` + id + `), '2026-06-01T01:00:00.000000Z' FROM n WHERE ?3 IS NOT NULL`,
		series + `INSERT INTO supervision_case_access (department, case_id) SELECT 'rsj', ` + id + ` FROM n WHERE ?3 IS NOT NULL`,
		series + `, k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 7)
INSERT INTO supervision_timers (case_id, timer_key, kind, clock, step, step_kind, clock_due, fire_at, notify_leader)
SELECT ` + id + `, 'handling|2026-07-31|k|' || j, CASE WHEN j < 3 THEN 'reminder' WHEN j = 3 THEN 'overdue' ELSE 'escalation' END,
	'handling', MAX(j - 3, 0), '', '2026-07-31',
	strftime('%Y-%m-%dT%H:%M:%S', ?3 + (i * 8 + j) * 60, 'unixepoch') || '.000000Z', 0
FROM n, k ORDER BY i, j`,
	}
}
