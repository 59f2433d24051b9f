package statistics_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// lifecycle appends one ordinary case's events (10) starting on day.
func lifecycle(h *history, id string, day county.Date, i int) {
	townships := []string{"dipu", "meixi", "tianzihu", "xiaofeng", "baofu"}
	depts := []string{"zjj", "rsj", "gaj", "jyj", "zrzyj"}
	chans := []string{"web", "letter", "visit", "phone"}
	dept := depts[i%len(depts)]
	p := petition{channel: chans[i%len(chans)], category: "complaint", township: townships[i%len(townships)], respondent: dept,
		persons: 1 + i%3, keys: []string{fmt.Sprintf("k%d", i%5000)}}
	h.reg(id, day.String(), p)
	h.assign(id, day.AddDays(1).String(), "transfer", dept, day.AddDays(11).String())
	h.ack(id, day.AddDays(3+i%10).String(), dept)
	h.accept(id, day.AddDays(4+i%10).String(), dept, day.AddDays(64).String())
	h.reply(id, day.AddDays(30+i%40).String())
	h.serve(id, day.AddDays(31+i%40).String())
	h.evalBureau(id, day.AddDays(35+i%40).String(), []string{"satisfied", "basically", "dissatisfied", "lapsed"}[i%4])
	h.evalUnit(id, day.AddDays(35+i%40).String(), []string{"basically", "satisfied", "dissatisfied", "lapsed"}[i%4], dept)
	h.action(id, day.AddDays(20).String(), eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_REMINDER, eventsv1.Clock_CLOCK_HANDLING, dept)
	h.closed(id, day.AddDays(70+i%40).String(), "window_lapsed")
}

// benchHistory is cases ordinary cases spread over three years, imported
// (history: no alert work).
func benchHistory(cases int) []*eventsv1.Envelope {
	h := &history{imported: true}
	start := county.NewDate(2024, 1, 1)
	for i := range cases {
		lifecycle(h, fmt.Sprintf("C%07d", i), start.AddDays(i%1000), i)
	}
	return h.envs
}

func benchDBs(b *testing.B, f func(b *testing.B, db *store.DB)) {
	b.Run("sqlite", func(b *testing.B) { f(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { f(b, storetest.Postgres(b)) })
}

// BenchmarkIngest measures events applied per second into the aggregates.
func BenchmarkIngest(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *store.DB) {
		svc, _ := newService(b, db, "2026-12-31")
		envs := benchHistory(b.N/10 + 1)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := svc.Apply(context.Background(), envs[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "alloc-B/event")
	})
}

// BenchmarkSummary measures a year's summary after XINFANG_BENCH_CASES
// cases (default 2,000, i.e. 20,000 events) were ingested; its cost
// depends on the period, not on the history.
func BenchmarkSummary(b *testing.B) {
	cases := 2000
	if v, err := strconv.Atoi(os.Getenv("XINFANG_BENCH_CASES")); err == nil && v > 0 {
		cases = v
	}
	benchDBs(b, func(b *testing.B, db *store.DB) {
		svc, _ := newService(b, db, "2026-12-31")
		for _, env := range benchHistory(cases) {
			if err := svc.Apply(context.Background(), env); err != nil {
				b.Fatal(err)
			}
		}
		q := statistics.PeriodQuery{From: "2025-01-01", To: "2025-12-31"}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := svc.Summary(context.Background(), q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
