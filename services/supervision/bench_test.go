package supervision

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

// Benchmark sizes come from the environment so that `go test -bench .`
// (and CI, which only compiles benchmarks) stays small:
//
//	XINFANG_BENCH_OPEN_CASES  open cases for BenchmarkTimerScan (default 2,000; the scale: 1,000,000)
//	XINFANG_BENCH_DUE_TIMERS  due timers for BenchmarkTimerCatchUp (default 800; the scale: 100,000)
//
// With XINFANG_TEST_POSTGRES_DSN set, the scan and the catch-up also run on
// PostgreSQL.
const (
	envOpenCases = "XINFANG_BENCH_OPEN_CASES"
	envDueTimers = "XINFANG_BENCH_DUE_TIMERS"
)

func envSize(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// benchDialects are SQLite, and PostgreSQL when the test DSN is set (a
// benchmark never fails for the lack of one, even in CI).
func benchDialects() []store.Dialect {
	ds := []store.Dialect{store.SQLite}
	if os.Getenv(storetest.PostgresEnv) != "" {
		ds = append(ds, store.Postgres)
	}
	return ds
}

func benchService(b *testing.B, db *store.DB) (*Supervision, *clock.Manual) {
	b.Helper()
	if err := migrateAll(context.Background(), db); err != nil {
		b.Fatal(err)
	}
	cfg := anji(b)
	clk := clock.NewManual(at("2026-06-01 09:00"))
	return New(Config{DB: db, Outbox: outbox.New(db, "anji"), County: func() *county.Config { return cfg },
		Clock: clk, Consumer: "bench"}), clk
}

// BenchmarkDepartmentAction measures one department action (acknowledge:
// load, transition, history, timers re-planned, outbox) end to end through
// the service, on SQLite; it reports p99 latency.
func BenchmarkDepartmentAction(b *testing.B) {
	svc, clock := benchService(b, storetest.SQLite(b))
	ctx := context.Background()
	for i := range b.N {
		if err := svc.ApplyRouting(ctx, assigned(fmt.Sprintf("b%08d", i), "rsj", clock.Now())); err != nil {
			b.Fatal(err)
		}
	}
	rsj := as(dept("rsj"))
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := svc.Act(rsj, fmt.Sprintf("b%08d", i), casemachine.Command{Action: casemachine.ActAcknowledge}); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRoutingRun applies routing decisions in runs of 128 in one
// transaction, as the consumer does (app.ConsumeInTx), with each decision's
// own transaction a savepoint (WithTx, the earlier way) or joining the run
// (WithRedoableTx, the way now): the savepoints' cost, side by side.
func BenchmarkRoutingRun(b *testing.B) {
	for _, mode := range []struct {
		name string
		with func(context.Context, *store.Tx) context.Context
	}{{"savepoints", store.WithTx}, {"redoable", store.WithRedoableTx}} {
		b.Run(mode.name, func(b *testing.B) {
			db := storetest.SQLite(b)
			svc, clock := benchService(b, db)
			ctx := context.Background()
			const run = 128
			b.ResetTimer()
			for i := 0; i < b.N; i += run {
				err := db.InTx(ctx, func(tx *store.Tx) error {
					in := mode.with(ctx, tx)
					for j := i; j < min(i+run, b.N); j++ {
						if err := svc.ApplyRouting(in, assigned(fmt.Sprintf("b%08d", j), "rsj", clock.Now())); err != nil {
							return err
						}
					}
					return tx.Spoiled()
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkTimerScan measures the timer worker's two queries against a
// database holding XINFANG_BENCH_OPEN_CASES open cases with 8 unfired timers
// each (3 reminders, overdue, 4 ladder steps: whole plans, as stored before
// a case stored its next timer only, so eight times the rows of such a
// county now), next to the same queries with
// 10,000 open cases: "due" is the scan FireDue runs (the first batch of due
// timers, here with 1,000 due), "next" the query that decides how long the
// worker sleeps. Both read the partial index of unfired timers, so ns/op
// stays flat as the table grows (an index range, not a scan of the table).
// The database is seeded with bulk INSERT … SELECT in large transactions,
// once per size and dialect in a process.
func BenchmarkTimerScan(b *testing.B) {
	n := envSize(b, envOpenCases, 2000)
	sizes := []int{n}
	if n > 10000 {
		sizes = []int{10000, n}
	}
	for _, d := range benchDialects() {
		for _, size := range sizes {
			b.Run(fmt.Sprintf("%s/open=%d", d, size), func(b *testing.B) {
				db, now := scanDatabase(b, d, size)
				ctx := context.Background()
				b.Run("due", func(b *testing.B) {
					for b.Loop() {
						due, err := scanDue(ctx, db, now, 100)
						if err != nil || len(due) != 100 {
							b.Fatalf("scan: %d due, %v", len(due), err)
						}
					}
				})
				b.Run("next", func(b *testing.B) {
					for b.Loop() {
						if _, ok, err := nextFire(ctx, db); err != nil || !ok {
							b.Fatalf("next: %v %v", ok, err)
						}
					}
				})
			})
		}
	}
}

// BenchmarkTimerCatchUp measures how fast a restarted worker fires the
// timers that fell due while it was down: XINFANG_BENCH_DUE_TIMERS due timers
// (accepted cases whose handling clock ran out long ago: 3 reminders, the
// overdue notice and the 4 ladder steps each, each planned as the one
// before it fires), fired by FireDue until none is left; with one transaction per timer (batch=1, as the worker did
// before) and per batch of 100 (the default), side by side. Each iteration
// seeds a fresh database (not timed).
func BenchmarkTimerCatchUp(b *testing.B) {
	due := envSize(b, envDueTimers, 800)
	for _, d := range benchDialects() {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", d, batch), func(b *testing.B) {
				ctx := context.Background()
				fired := 0
				var elapsed time.Duration
				for range b.N {
					b.StopTimer()
					var db *store.DB
					if d == store.SQLite {
						db = storetest.SQLite(b)
					} else {
						db = storetest.Postgres(b)
					}
					svc, clk := benchService(b, db)
					svc.batch = batch
					cases := (due + timersPerCase - 1) / timersPerCase
					if err := seedAcceptedCases(ctx, svc, cases); err != nil {
						b.Fatal(err)
					}
					clk.Set(at("2027-01-04 08:00")) // every timer of every case is due
					b.StartTimer()
					start := time.Now()
					n, err := svc.FireDue(ctx)
					elapsed += time.Since(start)
					if err != nil || n != cases*timersPerCase {
						b.Fatalf("fired %d of %d (%v)", n, cases*timersPerCase, err)
					}
					fired += n
				}
				b.ReportMetric(float64(fired)/elapsed.Seconds(), "timers/s")
				b.ReportMetric(0, "ns/op") // one op is one whole catch-up
			})
		}
	}
}
