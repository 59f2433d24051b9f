package statistics_test

import (
	"context"
	"strings"
	"testing"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// A department's row of the department breakdown (keyedReads: every key,
// one GROUP BY dim_key per range) equals that department's summary (read
// another way: periodReads, one key grouped by period) — this year, a
// year earlier and the 积案 carried over from earlier years — over a
// generated history of every event kind, for periods ending before and
// after today.
func TestDepartmentBreakdownRowsAreTheDepartmentsSummaries(t *testing.T) {
	cfg := benchCounty(t)
	g := newGenHistory(1500, county.NewDate(2023, 7, 1), county.NewDate(2026, 6, 30), 4, 5)
	var envs []*eventsv1.Envelope
	for run := g.nextRun(500); run != nil; run = g.nextRun(500) {
		envs = append(envs, run...)
	}
	ctx := context.Background()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newServiceFor(t, db, "2026-06-30", cfg)
		applyBatches(t, svc, envs, 500)
		for _, p := range []statistics.PeriodQuery{
			{From: "2026-01-01", To: "2026-12-31"}, // past today
			{From: "2025-03-17", To: "2026-03-13"}, // odd dates, before today
		} {
			b, err := svc.Breakdown(ctx, statistics.BreakdownQuery{By: "department", PeriodQuery: p})
			if err != nil {
				t.Fatal(err)
			}
			var rows int
			var counted, previous, backlog int64
			for _, r := range b.Rows {
				if !strings.HasPrefix(r.Key, "dept-") {
					continue
				}
				rows++
				s, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: p, Department: r.Key})
				if err != nil {
					t.Fatal(err)
				}
				for id, c := range s.Counts {
					if r.Counts[id] != c.Value || r.Previous[id] != c.Previous {
						t.Errorf("%s..%s %s %s: breakdown %d vs %d, summary %d vs %d", p.From, p.To, r.Key, id,
							r.Counts[id], r.Previous[id], c.Value, c.Previous)
					}
					counted += c.Value
					previous += c.Previous
				}
				switch {
				case r.Backlog == nil:
					t.Errorf("%s..%s %s: no backlog in the breakdown", p.From, p.To, r.Key)
				case *r.Backlog != s.Backlog.Total:
					t.Errorf("%s..%s %s: breakdown backlog %d, summary %d", p.From, p.To, r.Key, *r.Backlog, s.Backlog.Total)
				default:
					backlog += *r.Backlog
				}
			}
			// The comparison means something only if there was something to compare.
			if rows != 60 || counted == 0 || previous == 0 || backlog == 0 {
				t.Errorf("%s..%s: %d department rows, %d counted, %d a year earlier, %d backlog; want 60 rows (the generated five with data), each sum above 0",
					p.From, p.To, rows, counted, previous, backlog)
			}
		}
	})
}
