package statistics_test

import (
	"context"
	"log/slog"
	"testing"

	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

func TestUpgradeFromVersion1RebuildsTheCountersAndKeepsDeduplicating(t *testing.T) {
	// A database as version 1 left it: the case states, per-day counters
	// (督办 among them, and a stale registrations row), the kit inbox
	// recording every applied event. After the migration and Upgrade the
	// figures are those of a fresh ingest, and redelivered events — found
	// in the old inbox — change nothing.
	ref, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	envs := scenario().envs
	applyAll(t, ref, envs)
	want := summaryJSON(t, ref)

	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for name, m := range map[string][]store.Migration{"outbox": outbox.Migrations, "inbox": inbox.Migrations, "statistics": statistics.Migrations[:1]} {
			if err := db.Migrate(ctx, name, m); err != nil {
				t.Fatal(err)
			}
		}
		states, err := statistics.V1StatesForTest(envs)
		if err != nil {
			t.Fatal(err)
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for id, st := range states {
			exec(`INSERT INTO stat_cases (case_id, state, pending_due, pending_department, overdue_department) VALUES (?, ?, '', '', '')`, id, st)
		}
		exec(`INSERT INTO stat_daily (metric, dim, dim_key, day, value) VALUES ('duban', '', '', '2026-04-18', 1), ('duban', 'department', 'zjj', '2026-04-18', 1),
			('registrations', '', '', '2026-01-05', 999)`)
		exec(`INSERT INTO stat_monthly (metric, dim, dim_key, month, value) VALUES ('registrations', '', '', '2026-01', 999)`)
		exec(`INSERT INTO stat_petitioner_matters (petitioner_key, case_id, matter_id, day) VALUES ('pk-1', 'A', 'A', '2026-01-05')`)
		for _, e := range envs {
			exec(`INSERT INTO inbox (consumer, event_id, applied_at) VALUES (?, ?, '2026-06-25T00:00:00Z')`, legacyConsumer, e.GetEventId())
		}

		if err := db.Migrate(ctx, "statistics", statistics.Migrations); err != nil {
			t.Fatal(err)
		}
		if err := statistics.Upgrade(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if err := statistics.Upgrade(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err) // a second run (another replica) finds nothing to do
		}
		svc, _ := newService(t, db, "2026-06-25")
		if got := summaryJSON(t, svc); got != want {
			t.Errorf("after the upgrade:\n%s\nwant\n%s", got, want)
		}
		applyBatches(t, svc, envs, 30)
		if got := summaryJSON(t, svc); got != want {
			t.Errorf("redelivered events changed the upgraded figures:\n%s\nwant\n%s", got, want)
		}
		var key string
		if err := db.QueryRow(ctx, `SELECT petitioner_key FROM stat_petitioner_matters WHERE case_id = 'A'`).Scan(&key); err != nil || key != "pk-1" {
			t.Errorf("petitioner matters not carried over: %q %v", key, err)
		}
		// A new event applies.
		h := &history{prefix: "new-"}
		h.reg("Z", "2026-06-20", petition{channel: "web", category: "complaint", township: "dipu", persons: 2})
		applyAll(t, svc, h.envs)
		s, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: period})
		if err != nil {
			t.Fatal(err)
		}
		if r := s.Counts["registrations"]; r.Value != wantCounts["registrations"][0]+1 {
			t.Errorf("registrations after a new one: %d, want %d", r.Value, wantCounts["registrations"][0]+1)
		}
	})
}
