package statistics

import (
	"context"
	"slices"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
)

// periodReads are sums of one scope over several ranges of days, read in
// one query: each range is tiled into period keys and the rows come back
// per key, each added to every range it belongs to. A summary reads its
// period, the same dates a year earlier and the 积案 levels this way, and
// a month breakdown its months and theirs a year earlier.
type periodReads struct {
	today  county.Date
	owners map[string][]share
	// keys are the figure ranges' keys and the levels' keys, each once.
	keys, levelKeys []string
	out             []*vec
}

// share is a period key's part in one range: its metrics, and whether the
// key lies after today (its due-day metrics then do not count, as in
// figureKeys).
type share struct {
	i     int
	ms    []metric
	after bool
}

func newPeriodReads(today county.Date) *periodReads {
	return &periodReads{today: today, owners: map[string][]share{}}
}

// figures adds [from, to] for the figures (figureKeys). It
// returns the range's index in sums.
func (r *periodReads) figures(from, to county.Date) int {
	i := r.next()
	keys, after := figureKeys(from, to, r.today)
	r.keys = r.add(r.keys, share{i: i, ms: figureMetrics}, keys)
	r.keys = r.add(r.keys, share{i: i, ms: figureMetrics, after: true}, after)
	return i
}

// levels adds every day from the first year with data to asOf, read as
// levelSums reads it. It returns the range's index in sums.
func (r *periodReads) levels(first int, asOf county.Date) int {
	i := r.next()
	if first > 0 {
		r.levelKeys = r.add(r.levelKeys, share{i: i, ms: levelMetrics}, prefixKeys(first, asOf))
	}
	return i
}

func (r *periodReads) next() int {
	r.out = append(r.out, &vec{})
	return len(r.out) - 1
}

// add records sh's keys and appends those new to list.
func (r *periodReads) add(list []string, sh share, keys []string) []string {
	for _, k := range keys {
		if !slices.Contains(list, k) {
			list = append(list, k)
		}
		r.owners[k] = append(r.owners[k], sh)
	}
	return list
}

// sums reads every range of sc and returns them in the order they were
// added. PostgreSQL reads them in one query, every column of every key;
// SQLite, with no round trip to save, reads the figures' and the levels'
// keys apart, each with its own columns only.
func (r *periodReads) sums(ctx context.Context, q querier, sc scope) ([]*vec, error) {
	byPeriod := sums{}
	var err error
	switch {
	case len(r.levelKeys) == 0:
		err = readGrouped(ctx, q, sc, r.keys, "period", figureMetrics, byPeriod)
	case dialectOf(q) == store.Postgres:
		all := slices.Clone(r.keys)
		for _, k := range r.levelKeys {
			if !slices.Contains(r.keys, k) {
				all = append(all, k)
			}
		}
		err = readGrouped(ctx, q, sc, all, "period", allMetrics, byPeriod)
	default:
		// The two column sets are disjoint: a key in both gets each half
		// from one read.
		if err = readGrouped(ctx, q, sc, r.keys, "period", figureMetrics, byPeriod); err == nil {
			err = readGrouped(ctx, q, sc, r.levelKeys, "period", levelMetrics, byPeriod)
		}
	}
	if err != nil {
		return nil, err
	}
	for p, v := range byPeriod {
		for _, sh := range r.owners[p] {
			o := r.out[sh.i]
			for _, m := range sh.ms {
				if !sh.after || !dueDayMetrics[m] {
					o[m] += v[m]
				}
			}
		}
	}
	return r.out, nil
}
