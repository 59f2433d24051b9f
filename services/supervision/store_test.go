package supervision

import (
	"context"
	"strings"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// The timer worker's queries must read the partial index of unfired timers,
// so their cost follows the number of due timers, not of open cases; a
// batch's statements read primary keys.
func TestTimerQueriesUseTheDueIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := migrateAll(ctx, db); err != nil {
			t.Fatal(err)
		}
		// The worker's own texts, with the placeholders filled in, and the
		// index each must read: the due index for the scan and the next due
		// time, the primary keys for a batch's case locks and fired marks.
		fill := func(q string, args ...string) string {
			for _, a := range args {
				q = strings.Replace(q, "?", a, 1)
			}
			return q
		}
		pk := map[store.Dialect][2]string{
			store.SQLite:   {"sqlite_autoindex_supervision_cases_1", "INTEGER PRIMARY KEY"},
			store.Postgres: {"supervision_cases_pkey", "supervision_timers_pkey"},
		}[db.Dialect]
		queries := map[string][2]string{
			"scan": {fill(scanDueQuery+store.Limit(100), "'2026-01-01'"), "supervision_timers_due"},
			"next": {nextFireQuery, "supervision_timers_due"},
			"lock": {fill(lockCasesQuery[db.Dialect], `'["a","b"]'`), pk[0]},
			"mark": {fill(markFiredQuery[db.Dialect], "'2026-01-01'", "'[1,2]'"), pk[1]},
			// planNext's read of the batch's cases' timers: by case, not the
			// table in id order.
			"stored": {fill(storedTimersOfQuery[db.Dialect], `'["a","b"]'`), map[store.Dialect]string{
				store.SQLite: "sqlite_autoindex_supervision_timers_1", store.Postgres: "supervision_timers_case_id_timer_key_key"}[db.Dialect]},
		}
		for name, qi := range queries {
			q, index := qi[0], qi[1]
			var plan strings.Builder
			err := db.InTx(ctx, func(tx *store.Tx) error {
				explain := `EXPLAIN QUERY PLAN ` + q
				if db.Dialect == store.Postgres {
					// An empty table would be scanned whatever the indexes;
					// forbid that to see whether the index serves the query.
					if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
						return err
					}
					explain = `EXPLAIN ` + q
				}
				rows, err := tx.Query(ctx, explain)
				if err != nil {
					return err
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						return err
					}
					for _, v := range vals {
						switch x := v.(type) {
						case string:
							plan.WriteString(x + "\n")
						case []byte:
							plan.WriteString(string(x) + "\n")
						}
					}
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			p := plan.String()
			if !strings.Contains(p, index) || strings.Contains(p, "Seq Scan") || strings.Contains(p, "Aggregate") ||
				strings.Contains(p, "SCAN supervision_timers\n") || strings.Contains(p, "SCAN supervision_cases\n") {
				t.Errorf("%s query plan does not use %s:\n%s", name, index, p)
			}
		}
	})
}
