package statistics

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// A run's counter rows add up whatever their number: more rows than one
// statement takes (arrayRows on PostgreSQL, the multi-row shapes on
// SQLite), written twice so the second run updates every row.
func TestAddCountsWritesEveryRowOfALargeRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "statistics", Migrations); err != nil {
			t.Fatal(err)
		}
		const n = 2*arrayRows + 37
		deltas := map[periodRow]*vec{}
		for i := range n {
			v := &vec{}
			v[mRegistrations], v[mPersons] = int64(i+1), 2
			deltas[periodRow{dimTownship, "2026-06-25", fmt.Sprintf("k%05d", i)}] = v
		}
		for range 2 {
			if err := db.InTx(ctx, func(tx *store.Tx) error { return addCounts(ctx, tx, deltas) }); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := db.Query(ctx, `SELECT dim_key, m_registrations, m_persons FROM stat_counts WHERE dim = ? AND period = ? ORDER BY dim_key`,
			dimTownship, "2026-06-25")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		i := 0
		for rows.Next() {
			var key string
			var reg, persons int64
			if err := rows.Scan(&key, &reg, &persons); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("k%05d", i); key != want || reg != 2*int64(i+1) || persons != 4 {
				t.Fatalf("row %d: %s %d %d, want %s %d 4", i, key, reg, persons, want, 2*(i+1))
			}
			i++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if i != n {
			t.Fatalf("%d rows, want %d", i, n)
		}
	})
}

// Every metric is in exactly one of the groups a write sets.
func TestMetricGroupsCoverEveryMetricOnce(t *testing.T) {
	seen := map[metric]int{}
	for _, g := range metricGroups {
		for _, m := range g {
			seen[m]++
		}
	}
	for m := range metric(numMetrics) {
		if seen[m] != 1 {
			t.Errorf("metric %s is in %d groups, want 1", m.column(), seen[m])
		}
	}
}

// Runs that change different groups of counters — one, another, both,
// all, and a run whose rows change different groups — add to the same
// rows, and every column holds its sum: a statement setting some groups
// leaves the others as they were.
func TestAddCountsKeepsTheGroupsARunDoesNotChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "statistics", Migrations); err != nil {
			t.Fatal(err)
		}
		keys := []periodRow{{dimTotal, "2026-06-25", ""}, {dimTotal, "2026-06", ""}, {dimTownship, "2026-06-25", "t1"}}
		var want [3]vec
		rowsRun := func(metricsOf func(row int) []metric) {
			t.Helper()
			deltas := map[periodRow]*vec{}
			for i, k := range keys {
				v := &vec{}
				for j, m := range metricsOf(i) {
					v[m] = int64(10*i + j + 1)
					want[i][m] += v[m]
				}
				deltas[k] = v
			}
			if err := db.InTx(ctx, func(tx *store.Tx) error { return addCounts(ctx, tx, deltas) }); err != nil {
				t.Fatal(err)
			}
		}
		run := func(metrics ...metric) { rowsRun(func(int) []metric { return metrics }) }
		run(mRegistrations, mPersons)          // the registrations group
		run(mAssigned, mDuban)                 // the routing group only
		run(mPersons, mBacklog181, mReviewReq) // three others
		run(allMetrics...)                     // all
		run(mRegistrations)                    // the first again
		rowsRun(func(row int) []metric {       // each row its own groups
			return [][]metric{{mAssigned}, {mRegistrations, mBacklog181}, {mRegistrations, mAssigned, mReviewReq}}[row]
		})
		cols := make([]string, numMetrics)
		for m := range cols {
			cols[m] = metric(m).column()
		}
		for i, k := range keys {
			var got vec
			dest := make([]any, numMetrics)
			for m := range dest {
				dest[m] = &got[m]
			}
			err := db.QueryRow(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM stat_counts WHERE dim = ? AND period = ? AND dim_key = ?`,
				k.Dim, k.Period, k.Key).Scan(dest...)
			if err != nil {
				t.Fatal(err)
			}
			for m := range got {
				if got[m] != want[i][m] {
					t.Errorf("row %v, %s = %d, want %d", k, metric(m).column(), got[m], want[i][m])
				}
			}
		}
	})
}

// A counter row takes integers and a NULL (no rows summed) as counters and
// refuses anything else with the column it found it in.
func TestCounterRowTakesIntegersOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		scan := func(query string) (*counterRow, string, error) {
			t.Helper()
			rows, err := db.Query(ctx, query)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var key string
			row := newCounterRow(2, &key)
			if !rows.Next() {
				t.Fatalf("%s: no row", query)
			}
			return row, key, row.scan(rows)
		}
		row, key, err := scan(`SELECT 'k', CAST(41 AS BIGINT), NULL`)
		if err != nil || key != "k" || row.vals[0] != 41 || row.vals[1] != 0 {
			t.Fatalf("integers: key %q, %v, %v; want k, [41 0], no error", key, row.vals, err)
		}
		if _, _, err := scan(`SELECT 'k', CAST(1 AS BIGINT), 'x'`); err == nil || !strings.Contains(err.Error(), "counter column 2") {
			t.Fatalf("text as a counter: %v; want an error naming column 2", err)
		}
	})
}
