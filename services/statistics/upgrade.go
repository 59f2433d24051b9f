package statistics

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"xinfang.io/services/kit/store"
)

// Upgrade finishes what a migration leaves to Go code; Setup runs it after
// the migrations and before the consumer starts. Migration 2 changed what
// the counters hold (per period; 积案 levels; every figure per lead
// department): they are rebuilt from the case states, of which every
// counter except 督办 (carried over by the migration) is a pure function.
// It runs in one transaction that first claims the work, so a replica that
// loses the race finds nothing to do.
func Upgrade(ctx context.Context, db *store.DB, log *slog.Logger) error {
	var pending int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM stat_upgrade WHERE name = 'rebuild_counters'`).Scan(&pending); err != nil {
		return fmt.Errorf("statistics upgrade: %w", err)
	}
	if pending == 0 {
		return nil
	}
	start := time.Now()
	var cases int
	err := db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM stat_upgrade WHERE name = 'rebuild_counters'`)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // another replica did it
		}
		cases, err = rebuildCounters(ctx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("statistics upgrade: rebuild counters: %w", err)
	}
	log.Info("statistics: counters rebuilt from the case states", "cases", cases, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// rebuildPage is how many case states are read (and their contributions
// written) at a time, bounding memory on a large database.
const rebuildPage = 5000

// rebuildCounters adds every case's contributions to stat_counts.
func rebuildCounters(ctx context.Context, tx *store.Tx) (int, error) {
	n, last := 0, ""
	for {
		rows, err := tx.Query(ctx, `SELECT case_id, state FROM stat_cases WHERE case_id > ? ORDER BY case_id`+store.Limit(rebuildPage), last)
		if err != nil {
			return n, err
		}
		days := map[rowKey]*vec{}
		page := 0
		for rows.Next() {
			var id, raw string
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return n, err
			}
			var c caseState
			if err := json.Unmarshal([]byte(raw), &c); err != nil {
				rows.Close()
				return n, fmt.Errorf("case %s: decode state: %w", id, err)
			}
			for _, x := range c.contributions() {
				v := days[x.row]
				if v == nil {
					v = &vec{}
					days[x.row] = v
				}
				v[x.m] += x.v
			}
			last = id
			page++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
		n += page
		periods := map[periodRow]*vec{}
		for r, v := range days {
			if !v.zero() {
				rollUp(periods, r, v)
			}
		}
		if err := addCounts(ctx, tx, periods); err != nil {
			return n, err
		}
		if page < rebuildPage {
			return n, nil
		}
	}
}
