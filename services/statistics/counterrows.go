package statistics

import (
	"database/sql"
	"fmt"
)

// counterRow scans rows of a few leading columns (a dimension, a key, a
// part) followed by counters. database/sql converts a value into an
// *int64 by reflection, one counter at a time — a fifth of an SQLite
// summary's read, which scans every period row of a key — but hands it to
// an *any as it is; the counters go there and are asserted here.
type counterRow struct {
	dest []any
	raw  []any
	vals []int64
}

// newCounterRow scans into lead, then n counters (vals).
func newCounterRow(n int, lead ...any) *counterRow {
	c := &counterRow{raw: make([]any, n), vals: make([]int64, n)}
	c.dest = append(c.dest, lead...)
	for i := range c.raw {
		c.dest = append(c.dest, &c.raw[i])
	}
	return c
}

func (c *counterRow) scan(rows *sql.Rows) error {
	if err := rows.Scan(c.dest...); err != nil {
		return err
	}
	for i, v := range c.raw {
		switch x := v.(type) {
		case int64:
			c.vals[i] = x
		case nil: // no rows summed
			c.vals[i] = 0
		default:
			return fmt.Errorf("counter column %d: %T, want an integer", i+1, v)
		}
	}
	return nil
}
