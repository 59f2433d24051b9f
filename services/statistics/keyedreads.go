package statistics

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
)

// keyedReads are sums of every key of one dimension over several ranges of
// days: a breakdown's period, the same dates a year earlier and, by
// department, the 积案 levels. PostgreSQL reads them in one statement, a
// GROUP BY dim_key per part joined by UNION ALL and told apart by the
// part's number; SQLite, with no round trip to save, reads each part apart.
// (periodReads does the same for one key, grouped by period: for every key
// that would return a row per key and period.)
type keyedReads struct {
	dim   string
	parts []keyedPart
	out   []sums
}

// keyedPart is a set of period keys read into one range, with the
// counters it counts.
type keyedPart struct {
	i    int
	keys []string
	ms   []metric
}

func newKeyedReads(dimName string) *keyedReads { return &keyedReads{dim: dimName} }

// figures adds [from, to] for the figures: the part after today without
// its due-day counters (figureKeys). It returns the range's index.
func (r *keyedReads) figures(from, to, today county.Date) int {
	i := r.next()
	keys, after := figureKeys(from, to, today)
	ms := dimMetrics(r.dim)
	r.part(i, keys, ms)
	r.part(i, after, slices.DeleteFunc(slices.Clone(ms), func(m metric) bool { return dueDayMetrics[m] }))
	return i
}

// levels adds every day from the first year with data to asOf, read as
// levelSums reads it. It returns the range's index.
func (r *keyedReads) levels(first int, asOf county.Date) int {
	i := r.next()
	if first > 0 {
		r.part(i, prefixKeys(first, asOf), levelMetrics)
	}
	return i
}

func (r *keyedReads) next() int {
	r.out = append(r.out, sums{})
	return len(r.out) - 1
}

func (r *keyedReads) part(i int, keys []string, ms []metric) {
	if len(keys) > 0 && len(ms) > 0 {
		r.parts = append(r.parts, keyedPart{i: i, keys: keys, ms: ms})
	}
}

// sums reads every range and returns them in the order they were added.
func (r *keyedReads) sums(ctx context.Context, q querier) ([]sums, error) {
	if dialectOf(q) != store.Postgres || len(r.parts) < 2 {
		for _, p := range r.parts {
			if err := readSums(ctx, q, allKeys(r.dim), p.keys, p.ms, r.out[p.i]); err != nil {
				return nil, err
			}
		}
		return r.out, nil
	}
	if err := r.union(ctx, q); err != nil {
		return nil, fmt.Errorf("sum counters of %s: %w", allKeys(r.dim), err)
	}
	return r.out, nil
}

// union reads every part in one statement. Column j of a part's rows is
// its j-th counter; a part with fewer counters than the widest pads with
// constant zeros (UNION ALL wants the same columns from every part).
func (r *keyedReads) union(ctx context.Context, q querier) error {
	width := 0
	for _, p := range r.parts {
		width = max(width, len(p.ms))
	}
	var (
		b    strings.Builder
		args []any
	)
	for n, p := range r.parts {
		if n > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT %d, dim_key, %s", n, sumSelectOf(p.ms))
		b.WriteString(strings.Repeat(", CAST(0 AS BIGINT)", width-len(p.ms)))
		periodCond, periodArgs := periodsIn(true, p.keys)
		b.WriteString(" FROM stat_counts WHERE dim = ? AND " + periodCond + " GROUP BY dim_key")
		args = append(append(args, r.dim), periodArgs...)
	}
	rows, err := q.Query(ctx, b.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		part int
		key  string
	)
	row := newCounterRow(width, &part, &key)
	for rows.Next() {
		if err := row.scan(rows); err != nil {
			return err
		}
		if part < 0 || part >= len(r.parts) {
			return fmt.Errorf("part %d of %d", part, len(r.parts))
		}
		p := r.parts[part]
		v := r.out[p.i].at(key)
		for j, m := range p.ms {
			v[m] += row.vals[j]
		}
	}
	return rows.Err()
}
