package statistics

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"xinfang.io/services/kit/store"
)

// periodRow identifies one row of stat_counts.
type periodRow struct {
	Dim, Period, Key string
}

// metricGroups partition the counters by what changes them together. On
// SQLite a counter row is written per group that changed, with that
// group's columns only: a row rarely changes in more than one or two
// groups, and the parameters bound per row are what an SQLite write costs
// (see sqliteParams).
var metricGroups = [][]metric{
	{mRegistrations, mPersons, mFirstTime, mRepeat, mGroup, mGroupPersons, mOnline},
	{mTransferred, mAssigned, mDiverted, mForwarded, mNotAccepted, mDuban},
	{mAckDue, mAckOnTime, mHandlingDue, mHandledOnTime, mExtended},
	{mConcluded, mResolved, mOneTimeBase, mOneTime, mLeaderDone, mLeaderSolved},
	{mBureauRated, mBureauSatis, mBureauLapsed, mUnitRated, mUnitSatis, mUnitLapsed},
	{mMediated, mMediatedOK, mReviewReq, mReviewDone, mReviewUpheld, mReReviewReq, mReReviewDone, mReReviewKept},
	{mBacklog, mBacklog1, mBacklog31, mBacklog91, mBacklog181},
}

// allMetrics is every counter, the one group PostgreSQL writes.
var allMetrics = func() []metric {
	out := make([]metric, numMetrics)
	for i := range out {
		out[i] = metric(i)
	}
	return out
}()

func upsertCounts(ms []metric) *store.MultiRow {
	cols := make([]string, len(ms))
	sets := make([]string, len(ms))
	for i, m := range ms {
		c := m.column()
		cols[i] = c
		sets[i] = c + " = stat_counts." + c + " + excluded." + c
	}
	return &store.MultiRow{
		Head: "INSERT INTO stat_counts (dim, period, dim_key, " + strings.Join(cols, ", ") + ") VALUES ",
		Row:  "(" + placeholders(3+len(ms)) + ")",
		Tail: " ON CONFLICT (dim, period, dim_key) DO UPDATE SET " + strings.Join(sets, ", "),
	}
}

var (
	upsertGroupSQL = func() []*store.MultiRow {
		out := make([]*store.MultiRow, len(metricGroups))
		for i, g := range metricGroups {
			out[i] = upsertCounts(g)
		}
		return out
	}()

	// upsertArraysSQL takes a run's rows as one array a column
	// (PostgreSQL): a run's counters are one statement, one plan and one
	// round trip whatever their number, where the multi-row shapes took one
	// per bit of it (four for the 30-odd rows of a single event). The rows
	// go in in the arrays' order, the key order replicas lock them in.
	upsertArraysSQL = func() string {
		u := upsertCounts(allMetrics)
		arrays := [][2]string{{"dim", "text"}, {"period", "text"}, {"dim_key", "text"}}
		for _, m := range allMetrics {
			arrays = append(arrays, [2]string{m.column(), "bigint"})
		}
		return store.Unnest{Into: strings.TrimSuffix(strings.TrimPrefix(u.Head, "INSERT INTO "), " VALUES "),
			Arrays: arrays, Tail: u.Tail}.Text()
	}()
)

// arrayRows bounds the rows of one array statement (PostgreSQL: counters,
// case rows, petitioner matters): a live run is one statement, and a
// catch-up run of tens of thousands of rows does not hold them all as
// arrays and their encoding at once (it doubled the ingest's peak heap).
const arrayRows = 1024

// writeCountArrays adds the rows' deltas, arrayRows at a time (PostgreSQL).
func writeCountArrays(ctx context.Context, tx *store.Tx, rows []periodRow, deltas map[periodRow]*vec) error {
	n := min(len(rows), arrayRows)
	dims, periods, keys := make([]string, n), make([]string, n), make([]string, n)
	cols := make([][]int64, numMetrics)
	for m := range cols {
		cols[m] = make([]int64, n)
	}
	args := make([]any, 3+numMetrics)
	for len(rows) > 0 {
		n = min(len(rows), arrayRows)
		for i, k := range rows[:n] {
			dims[i], periods[i], keys[i] = k.Dim, k.Period, k.Key
			v := deltas[k]
			for m := range cols {
				cols[m][i] = v[m]
			}
		}
		args[0], args[1], args[2] = dims[:n], periods[:n], keys[:n]
		for m, c := range cols {
			args[3+m] = c[:n]
		}
		if _, err := tx.Exec(ctx, upsertArraysSQL, args...); err != nil {
			return fmt.Errorf("update counters: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// addCounts adds the deltas to stat_counts (INSERT … ON CONFLICT DO UPDATE
// SET m = m + excluded.m), rows in key order so that replicas on
// PostgreSQL lock them alike.
func addCounts(ctx context.Context, tx *store.Tx, deltas map[periodRow]*vec) error {
	keys := make([]periodRow, 0, len(deltas))
	for k, v := range deltas {
		if !v.zero() {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Dim != b.Dim {
			return a.Dim < b.Dim
		}
		if a.Period != b.Period {
			return a.Period < b.Period
		}
		return a.Key < b.Key
	})
	if tx.Dialect() == store.Postgres {
		return writeCountArrays(ctx, tx, keys, deltas)
	}
	for g, ms := range metricGroups {
		var rows []periodRow
		for _, k := range keys {
			v := deltas[k]
			for _, m := range ms {
				if v[m] != 0 {
					rows = append(rows, k)
					break
				}
			}
		}
		if err := writeCounts(ctx, tx, upsertGroupSQL[g], ms, rows, deltas); err != nil {
			return err
		}
	}
	return nil
}

func writeCounts(ctx context.Context, tx *store.Tx, stmt *store.MultiRow, ms []metric, rows []periodRow, deltas map[periodRow]*vec) error {
	per := 3 + len(ms)
	for _, n := range chunks(len(rows), shapes(per)) {
		args := make([]any, 0, n*per)
		for _, k := range rows[:n] {
			args = append(args, k.Dim, k.Period, k.Key)
			v := deltas[k]
			for _, m := range ms {
				args = append(args, v[m])
			}
		}
		rows = rows[n:]
		if _, err := tx.Exec(ctx, stmt.Text(n), args...); err != nil {
			return fmt.Errorf("update counters: %w", err)
		}
	}
	return nil
}

// rollUp adds a day row's deltas to its day, dekad, month and year rows.
func rollUp(out map[periodRow]*vec, r rowKey, v *vec) {
	for _, p := range levelKeys(r.Day) {
		k := periodRow{r.Dim, p, r.Key}
		o := out[k]
		if o == nil {
			o = &vec{}
			out[k] = o
		}
		o.add(v)
	}
}
