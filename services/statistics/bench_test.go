package statistics_test

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kittest"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// The benchmarks run on a generated county history (genHistory) of
// XINFANG_BENCH_CASES cases, about ten events each, over five years
// ending on the service's today (2026-06-30), in 40 townships and 60
// departments; the default of 2,000 cases (≈ 20,000 events) keeps a smoke
// run short. At history scale: XINFANG_BENCH_CASES=1000000 (≈ 10 million
// events).
//
//	go test -run '^$' -bench 'Ingest|Summary|Breakdown' -benchtime 1x ./statistics/   # ingest
//	go test -run '^$' -bench 'Summary|Breakdown' ./statistics/                        # queries
//	go test -run '^$' -bench LiveEvents -benchtime 3000x ./statistics/                # one event a batch
//
// BenchmarkIngest feeds the history through ApplyBatch (the consumer's
// path) in batches of statistics.MaxBatch and reports events/s (time in
// ApplyBatch only, not generating), the peak Go heap and the process's
// peak RSS (VmHWM) while ingesting. BenchmarkSummary and BenchmarkBreakdown
// ingest the history once per process and report each query's p50 and p99.

func benchCases(b *testing.B) int {
	b.Helper()
	if v := os.Getenv("XINFANG_BENCH_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			b.Fatalf("XINFANG_BENCH_CASES=%q: want a number of cases ≥ 10", v)
		}
		return n
	}
	return 2000
}

const benchToday = "2026-06-30"

var (
	benchStart = county.NewDate(2021, 7, 1)
	benchEnd   = county.NewDate(2026, 6, 30)
)

// benchCounty is the sample county with the generated history's 40
// townships and 60 departments added.
func benchCounty(b testing.TB) *county.Config {
	b.Helper()
	cfg := loadCounty(b)
	spec := cfg.Spec
	spec.Townships = slices.Clone(spec.Townships)
	spec.Departments = slices.Clone(spec.Departments)
	for i := range 40 {
		spec.Townships = append(spec.Townships, county.Township{ID: fmt.Sprintf("town-%02d", i), Name: fmt.Sprintf("第%d乡镇", i)})
	}
	model, _ := cfg.Department("zjj")
	for i := range 60 {
		d := *model
		d.ID, d.Name = fmt.Sprintf("dept-%02d", i), fmt.Sprintf("第%d部门", i)
		spec.Departments = append(spec.Departments, d)
	}
	out, err := county.NewConfig(cfg.ID, spec)
	if err != nil {
		b.Fatalf("bench county: %v", err)
	}
	return out
}

type ingestResult struct {
	events  int
	inApply time.Duration
	// cpu is the process's CPU time (user + system) spent in ApplyBatch:
	// on a shared machine a steadier measure than the wall clock.
	cpu      time.Duration
	peakHeap uint64
	svc      statistics.Service
}

// ingestHistory generates the history and applies it in batches.
func ingestHistory(b *testing.B, svc statistics.Service, cases int) *ingestResult {
	b.Helper()
	ctx := context.Background()
	g := newGenHistory(cases, benchStart, benchEnd, 40, 60)
	res := &ingestResult{svc: svc}
	var ms runtime.MemStats
	for n := 0; ; n++ {
		run := g.nextRun(statistics.MaxBatch)
		if run == nil {
			break
		}
		start, cpu := time.Now(), kittest.CPUTime()
		if err := svc.ApplyBatch(ctx, events(run)); err != nil {
			b.Fatalf("apply batch %d: %v", n, err)
		}
		res.inApply += time.Since(start)
		res.cpu += kittest.CPUTime() - cpu
		if n%8 == 0 {
			runtime.ReadMemStats(&ms)
			res.peakHeap = max(res.peakHeap, ms.HeapInuse)
		}
	}
	res.events = g.events
	return res
}

// vmHWM is the process's peak resident set size in bytes (Linux), 0 when
// unknown.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

// benchDB opens a fresh database of the dialect that outlives the
// benchmark that made it (the query benchmarks share one); TestMain's
// cleanups remove it.
func benchDB(b *testing.B, dialect string) *store.DB {
	b.Helper()
	ctx := context.Background()
	switch dialect {
	case "sqlite":
		dir, err := os.MkdirTemp("", "xinfang-statistics-bench-")
		if err != nil {
			b.Fatal(err)
		}
		db, err := store.Open(ctx, store.SQLite, filepath.Join(dir, "statistics.db"))
		if err != nil {
			b.Fatal(err)
		}
		benchCleanups = append(benchCleanups, func() { db.Close(); os.RemoveAll(dir) })
		return db
	}
	dsn := storetest.PostgresDSN(b)
	admin, err := store.Open(ctx, store.Postgres, dsn)
	if err != nil {
		b.Fatal(err)
	}
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := store.Open(ctx, store.Postgres, u.String())
	if err != nil {
		b.Fatal(err)
	}
	benchCleanups = append(benchCleanups, func() {
		db.Close()
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	return db
}

var benchCleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range benchCleanups {
		f()
	}
	os.Exit(code)
}

var dialects = []string{"sqlite", "postgres"}

// BenchmarkIngest measures events applied per second into the aggregates,
// the peak heap and the peak RSS while ingesting the history.
func BenchmarkIngest(b *testing.B) {
	cases := benchCases(b)
	for _, d := range dialects {
		b.Run(d, func(b *testing.B) {
			for range b.N {
				db := benchDB(b, d)
				svc, _ := newServiceFor(b, db, benchToday, benchCounty(b))
				res := ingestHistory(b, svc, cases)
				b.ReportMetric(float64(res.events)/res.inApply.Seconds(), "events/s")
				b.ReportMetric(float64(res.events)/res.cpu.Seconds(), "events/cpu-s")
				b.ReportMetric(float64(res.events), "events")
				b.ReportMetric(float64(res.peakHeap)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(vmHWM()/(1<<20), "peak-rss-MiB")
				fixtures[d] = res
			}
		})
	}
}

// fixtures are ingested histories by dialect, shared by the query
// benchmarks of one process.
var fixtures = map[string]*ingestResult{}

func fixture(b *testing.B, dialect string) *ingestResult {
	b.Helper()
	if f := fixtures[dialect]; f != nil {
		return f
	}
	db := benchDB(b, dialect)
	svc, _ := newServiceFor(b, db, benchToday, benchCounty(b))
	f := ingestHistory(b, svc, benchCases(b))
	fixtures[dialect] = f
	return f
}

// latencies runs q b.N times, at least 200, and reports its p50 and p99
// in milliseconds (so that -benchtime 1x, which the ingest benchmark
// wants, still gives percentiles).
func latencies(b *testing.B, events int, q func() error) {
	b.Helper()
	n := max(b.N, 200)
	ds := make([]time.Duration, 0, n)
	b.ResetTimer()
	for range n {
		start := time.Now()
		if err := q(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(ds)
	at := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))]) / 1e6
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(events), "events")
}

// BenchmarkSummary: a calendar year with its comparison, the running year
// to date (day and dekad rows at the end), a department's, and the 积案 as
// of a past day.
func BenchmarkSummary(b *testing.B) {
	for _, d := range dialects {
		b.Run(d, func(b *testing.B) {
			f := fixture(b, d)
			ctx := context.Background()
			for name, q := range map[string]statistics.SummaryQuery{
				"year":       {PeriodQuery: statistics.PeriodQuery{From: "2025-01-01", To: "2025-12-31"}},
				"ytd":        {PeriodQuery: statistics.PeriodQuery{From: "2026-01-01", To: "2026-06-30"}},
				"odd":        {PeriodQuery: statistics.PeriodQuery{From: "2025-03-17", To: "2026-03-13"}},
				"department": {PeriodQuery: statistics.PeriodQuery{From: "2026-01-01", To: "2026-06-30"}, Department: "dept-00"},
				"asOf":       {PeriodQuery: statistics.PeriodQuery{From: "2025-01-01", To: "2025-12-31"}, AsOf: "2025-08-17"},
			} {
				b.Run(name, func(b *testing.B) {
					latencies(b, f.events, func() error { _, err := f.svc.Summary(ctx, q); return err })
				})
			}
		})
	}
}

// BenchmarkBreakdown: each dimension over the running year to date, each
// key with its previous-year comparison.
func BenchmarkBreakdown(b *testing.B) {
	for _, d := range dialects {
		b.Run(d, func(b *testing.B) {
			f := fixture(b, d)
			ctx := context.Background()
			for _, by := range statistics.Breakdowns {
				b.Run(by, func(b *testing.B) {
					q := statistics.BreakdownQuery{By: by, PeriodQuery: statistics.PeriodQuery{From: "2025-07-01", To: "2026-06-30"}}
					latencies(b, f.events, func() error { _, err := f.svc.Breakdown(ctx, q); return err })
				})
			}
		})
	}
}

// BenchmarkLiveEvents applies a county's events one per batch, as a
// county at its usual rate feeds them (a batch holds the events of a
// millisecond's linger: one), and reports the CPU an event costs. At
// saturation batches share their counter rows; here every event writes its
// own. The events are the last 30 days' cases of a county (liveCases over
// the days to the service's today), applied one case after another, each
// case's events in order, on top of the five years before them
// (liveHistory cases), so that the counter rows an event writes lie among
// a history's. Until session 16 a batch was a whole case (nextRun(1)).
func BenchmarkLiveEvents(b *testing.B) {
	for _, d := range dialects {
		b.Run(d, func(b *testing.B) {
			ctx := context.Background()
			f := liveFixture(b, d)
			var cpu time.Duration
			n := 0
			b.ResetTimer()
			for ; n < b.N; n++ {
				for len(f.pending) == 0 {
					if f.pending = f.live.nextRun(1); f.pending == nil {
						b.Fatalf("the live history ran out after %d events", f.live.events)
					}
				}
				e := f.pending[0]
				f.pending = f.pending[1:]
				start := kittest.CPUTime()
				if err := f.svc.ApplyBatch(ctx, events([]*eventsv1.Envelope{e})); err != nil {
					b.Fatalf("apply event %d: %v", n, err)
				}
				cpu += kittest.CPUTime() - start
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/event")
		})
	}
}

const (
	liveHistory = 20000
	liveCases   = 30000
)

// live is a service with a history ingested and the events after it still
// to apply; the benchmark's runs of one process continue where the last
// one stopped.
type live struct {
	svc     statistics.Service
	live    *genHistory
	pending []*eventsv1.Envelope
}

var lives = map[string]*live{}

func liveFixture(b *testing.B, dialect string) *live {
	b.Helper()
	if f := lives[dialect]; f != nil {
		return f
	}
	ctx := context.Background()
	db := benchDB(b, dialect)
	svc, _ := newServiceFor(b, db, benchToday, benchCounty(b))
	from := benchEnd.AddDays(-29)
	h := newGenHistory(liveHistory, benchStart, from.AddDays(-1), 40, 60)
	for run := h.nextRun(statistics.MaxBatch); run != nil; run = h.nextRun(statistics.MaxBatch) {
		if err := svc.ApplyBatch(ctx, events(run)); err != nil {
			b.Fatalf("ingest the history: %v", err)
		}
	}
	g := newGenHistory(liveCases, from, benchEnd, 40, 60)
	g.base = liveHistory
	f := &live{svc: svc, live: g}
	lives[dialect] = f
	return f
}
