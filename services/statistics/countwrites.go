package statistics

import (
	"context"
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"sync"

	"xinfang.io/services/kit/store"
)

// periodRow identifies one row of stat_counts.
type periodRow struct {
	Dim, Period, Key string
}

// metricGroups partition the counters by what changes them together. A
// counter row is written with the columns of the groups it changed only
// (see groupStatement).
var metricGroups = [][]metric{
	{mRegistrations, mPersons, mFirstTime, mRepeat, mGroup, mGroupPersons, mOnline},
	{mTransferred, mAssigned, mDiverted, mForwarded, mNotAccepted, mDuban},
	{mAckDue, mAckOnTime, mHandlingDue, mHandledOnTime, mExtended},
	{mConcluded, mResolved, mOneTimeBase, mOneTime, mLeaderDone, mLeaderSolved},
	{mBureauRated, mBureauSatis, mBureauLapsed, mUnitRated, mUnitSatis, mUnitLapsed},
	{mMediated, mMediatedOK, mReviewReq, mReviewDone, mReviewUpheld, mReReviewReq, mReReviewDone, mReReviewKept},
	{mBacklog, mBacklog1, mBacklog31, mBacklog91, mBacklog181},
}

// allMetrics is every counter, in column order.
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

// allGroups is the mask of every metric group.
var allGroups = uint(1)<<len(metricGroups) - 1

// groupOf is each metric's index in metricGroups.
var groupOf = func() (out [numMetrics]uint) {
	for g, ms := range metricGroups {
		for _, m := range ms {
			out[m] = uint(g)
		}
	}
	return out
}()

// groupStatement is the counters' upsert of the columns of some metric
// groups, those a row (SQLite) or a run (PostgreSQL) changed: a live event
// changes two or three groups of seven, and each column an upsert sets
// costs its evaluation (and on PostgreSQL its array) for every row.
//
// On SQLite the rows go in as multi-row VALUES, the rows that changed the
// same groups together, each row once. Until session 15 a row was written
// once per group it changed: in a run of many events most rows change in
// several groups, and a history's ingest took 21–30% more CPU an event.
//
// On PostgreSQL a run's rows go in as one array a column: a run's counters
// are one statement, one plan and one round trip whatever their number,
// where the multi-row shapes took one per bit of it. The rows go in in the
// arrays' order, the key order replicas lock them in (session 14: a
// 120-row run with 13 columns in 2.2 ms against 3.3–3.8 with all 43).
type groupStatement struct {
	metrics []metric
	rows    *store.MultiRow
	arrays  string
}

// groupStatements holds the statements built so far, by group mask.
var groupStatements sync.Map

// upsertGroups is the upsert of the groups in mask (bit g for
// metricGroups[g]), built on first use: at most 2⁷, a handful live.
func upsertGroups(mask uint) *groupStatement {
	if s, ok := groupStatements.Load(mask); ok {
		return s.(*groupStatement)
	}
	var ms []metric
	for g, group := range metricGroups {
		if mask&(1<<g) != 0 {
			ms = append(ms, group...)
		}
	}
	u := upsertCounts(ms)
	arrays := [][2]string{{"dim", "text"}, {"period", "text"}, {"dim_key", "text"}}
	for _, m := range ms {
		arrays = append(arrays, [2]string{m.column(), "bigint"})
	}
	s := &groupStatement{metrics: ms, rows: u, arrays: store.Unnest{Into: strings.TrimSuffix(strings.TrimPrefix(u.Head, "INSERT INTO "), " VALUES "),
		Arrays: arrays, Tail: u.Tail}.Text()}
	got, _ := groupStatements.LoadOrStore(mask, s)
	return got.(*groupStatement)
}

// groups is the mask of the metric groups v changes.
func (v *vec) groups() uint {
	var mask uint
	for m, d := range v {
		if d != 0 {
			mask |= 1 << groupOf[m]
		}
	}
	return mask
}

// arrayRows bounds the rows of one array statement (PostgreSQL: counters,
// case rows, petitioner matters): a live run is one statement, and a
// catch-up run of tens of thousands of rows does not hold them all as
// arrays and their encoding at once (it doubled the ingest's peak heap).
const arrayRows = 1024

// writeCountArrays adds the rows' deltas, arrayRows at a time, each
// statement setting the groups its rows changed (PostgreSQL).
func writeCountArrays(ctx context.Context, tx *store.Tx, rows []periodRow, deltas map[periodRow]*vec) error {
	size := min(len(rows), arrayRows)
	dims, periods, keys := make([]string, size), make([]string, size), make([]string, size)
	var cols [numMetrics][]int64
	for len(rows) > 0 {
		n := min(len(rows), arrayRows)
		run := rows[:n]
		var mask uint
		for i, k := range run {
			dims[i], periods[i], keys[i] = k.Dim, k.Period, k.Key
			mask |= deltas[k].groups()
		}
		st := upsertGroups(mask)
		args := make([]any, 3, 3+len(st.metrics))
		args[0], args[1], args[2] = dims[:n], periods[:n], keys[:n]
		for _, m := range st.metrics {
			if cols[m] == nil {
				cols[m] = make([]int64, size)
			}
			c := cols[m][:n]
			for i, k := range run {
				c[i] = deltas[k][m]
			}
			args = append(args, c)
		}
		if err := tx.ExecDeferred(ctx, st.arrays, args...); err != nil {
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
	// Rows that changed the same groups go together, in key order. A row
	// that changed more than two is written with every column: such rows
	// are few (the county's and its departments' longer periods), and the
	// statements stay a few dozen texts, where every combination of groups
	// made a hundred and more — each prepared on each connection, and all
	// competing for the statement cache.
	var masks []uint
	byMask := map[uint][]periodRow{}
	for _, k := range keys {
		m := deltas[k].groups()
		if bits.OnesCount(m) > 2 {
			m = allGroups
		}
		if _, ok := byMask[m]; !ok {
			masks = append(masks, m)
		}
		byMask[m] = append(byMask[m], k)
	}
	for _, m := range masks {
		st := upsertGroups(m)
		if err := writeCounts(ctx, tx, st.rows, st.metrics, byMask[m], deltas); err != nil {
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
