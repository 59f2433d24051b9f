package supervision

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

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

// BenchmarkTimerCatchUp measures how fast a restarted worker fires timers
// that fell due while it was down (one transaction per timer).
func BenchmarkTimerCatchUp(b *testing.B) {
	svc, clock := benchService(b, storetest.SQLite(b))
	ctx := context.Background()
	// Each accepted case has 8 handling timers; one case per 8 iterations.
	n := (b.N + 7) / 8
	rsj := as(dept("rsj"))
	for i := range n {
		id := fmt.Sprintf("t%08d", i)
		if err := svc.ApplyRouting(ctx, assigned(id, "rsj", clock.Now())); err != nil {
			b.Fatal(err)
		}
		for _, a := range []casemachine.Action{casemachine.ActAcknowledge, casemachine.ActAccept} {
			if _, err := svc.Act(rsj, id, casemachine.Command{Action: a}); err != nil {
				b.Fatal(err)
			}
		}
	}
	clock.Set(at("2026-09-01 08:00"))
	b.ResetTimer()
	fired, err := svc.FireDue(ctx)
	b.StopTimer()
	if err != nil || fired != n*8 {
		b.Fatalf("fired %d of %d (%v)", fired, n*8, err)
	}
	b.ReportMetric(float64(fired)/b.Elapsed().Seconds(), "timers/s")
}
