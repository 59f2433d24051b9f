package supervision

import (
	"context"
	"strings"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// The timer worker's queries must read the partial index of unfired timers,
// so their cost follows the number of due timers, not of open cases.
func TestTimerQueriesUseTheDueIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := migrateAll(ctx, db); err != nil {
			t.Fatal(err)
		}
		queries := map[string]string{
			"scan": `SELECT id, case_id FROM supervision_timers WHERE fired_at IS NULL AND fire_at <= '2026-01-01' ORDER BY fire_at, id LIMIT 100`,
			"next": `SELECT fire_at FROM supervision_timers WHERE fired_at IS NULL ORDER BY fire_at, id LIMIT 1`,
		}
		for name, q := range queries {
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
			if !strings.Contains(p, "supervision_timers_due") || strings.Contains(p, "Seq Scan") || strings.Contains(p, "Aggregate") || strings.Contains(p, "SCAN supervision_timers\n") {
				t.Errorf("%s query plan does not use the due index:\n%s", name, p)
			}
		}
	})
}
