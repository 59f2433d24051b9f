package statistics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
)

// querier is a database or a transaction.
type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

// sums maps a dimension key to its counters summed over some periods.
type sums map[string]*vec

// of returns key's counters (zeros when it has none).
func (s sums) of(key string) *vec {
	if v := s[key]; v != nil {
		return v
	}
	return &vec{}
}

func (s sums) at(key string) *vec {
	v := s[key]
	if v == nil {
		v = &vec{}
		s[key] = v
	}
	return v
}

// scope selects the rows of one dimension: every key, or one key.
type scope struct {
	dim, key string
	oneKey   bool
}

func allKeys(dimName string) scope     { return scope{dim: dimName} }
func oneKey(dimName, key string) scope { return scope{dim: dimName, key: key, oneKey: true} }
func (s scope) String() string         { return s.dim + "/" + s.key }

// inSizes are the lengths SQLite's IN lists are padded to (with repeats of their
// last value, which match nothing more), so that a handful of statement
// texts serve every query and stay in the prepared-statement caches.
var inSizes = []int{16, 64, 128}

func padded(vals []string) []string {
	for _, n := range inSizes {
		if len(vals) <= n {
			out := make([]string, n)
			copy(out, vals)
			for i := len(vals); i < n; i++ {
				out[i] = vals[len(vals)-1]
			}
			return out
		}
	}
	return vals
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// periodsIn is the condition on stat_counts.period for periods, with its
// arguments. PostgreSQL takes them as one array, not an IN list: after five
// runs it may plan a prepared statement generically, and the generic plan
// of a 64-parameter IN list scanned every period of the key instead of
// looking the periods up; for an array it assumes a few elements. SQLite
// takes an IN list padded to one of a few lengths (inSizes).
func periodsIn(pg bool, periods []string) (string, []any) {
	if pg {
		return "period = ANY(?::text[])", []any{periods}
	}
	ps := padded(periods)
	args := make([]any, len(ps))
	for i, p := range ps {
		args[i] = p
	}
	return "period IN (" + placeholders(len(ps)) + ")", args
}

// figureMetrics are the counters period figures are made of; levelMetrics
// the 积案 levels. A query reads only the columns it needs.
var (
	figureMetrics = allMetrics[:mBacklog]
	levelMetrics  = allMetrics[mBacklog:]
)

// sumSelect is the SELECT list summing the counters ms.
func sumSelect(ms []metric) string {
	cols := make([]string, len(ms))
	for i, m := range ms {
		cols[i] = "CAST(SUM(" + m.column() + ") AS BIGINT)"
	}
	return strings.Join(cols, ", ")
}

var sumSelects sync.Map // metric list → SELECT list

func sumSelectOf(ms []metric) string {
	key := fmt.Sprint(ms)
	if v, ok := sumSelects.Load(key); ok {
		return v.(string)
	}
	v := sumSelect(ms)
	sumSelects.Store(key, v)
	return v
}

// dimMetrics are the figure counters a dimension keeps (docs/metrics.md):
// a query of the dimension reads those columns only.
func dimMetrics(dimName string) []metric {
	switch dimName {
	case dimChannel, dimTownship:
		return []metric{mRegistrations, mPersons, mFirstTime, mRepeat, mGroup}
	case dimCategory:
		return []metric{mRegistrations, mPersons, mFirstTime, mRepeat, mGroup, mConcluded, mResolved}
	case dimRespondent:
		return []metric{mRegistrations, mPersons}
	case dimLegalChannel:
		return []metric{mDiverted}
	}
	return figureMetrics
}

// readSums adds the counters ms (a run of consecutive metrics) of periods
// (period keys) in scope to out, by dimension key.
func readSums(ctx context.Context, q querier, sc scope, periods []string, ms []metric, out sums) error {
	return readGrouped(ctx, q, sc, periods, "dim_key", ms, out)
}

// readGrouped adds the counters ms of periods in scope to out, keyed by
// the column group (dim_key or period).
func readGrouped(ctx context.Context, q querier, sc scope, periods []string, group string, ms []metric, out sums) error {
	if err := readDims(ctx, q, map[string]sums{sc.dim: out}, sc, periods, group, ms); err != nil {
		return fmt.Errorf("sum counters of %s: %w", sc, err)
	}
	return nil
}

// dimSums sums the counters of periods for every key of each of dims, by
// dimension: in one query on PostgreSQL; SQLite, with no round trip to
// save, reads each dimension's own columns apart.
func dimSums(ctx context.Context, q querier, dims []string, periods []string) (map[string]sums, error) {
	out := map[string]sums{}
	var ms []metric
	for _, d := range dims {
		out[d] = sums{}
		for _, m := range dimMetrics(d) {
			if !slices.Contains(ms, m) {
				ms = append(ms, m)
			}
		}
	}
	if dialectOf(q) == store.SQLite {
		for _, d := range dims {
			if err := readGrouped(ctx, q, allKeys(d), periods, "dim_key", dimMetrics(d), out[d]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if err := readDims(ctx, q, out, scope{}, periods, "dim_key", ms); err != nil {
		return nil, fmt.Errorf("sum counters of %s: %w", strings.Join(dims, ", "), err)
	}
	return out, nil
}

// readDims adds the counters ms of periods of each dimension of out (of
// sc's one key, if it has one) to out, keyed by the column group.
// PostgreSQL sums them (GROUP BY); from SQLite the rows are read and
// summed here: its GROUP BY copies every row into a sorter first, which
// costs more than the sums.
func readDims(ctx context.Context, q querier, out map[string]sums, sc scope, periods []string, group string, ms []metric) error {
	if len(periods) == 0 {
		return nil
	}
	dims := slices.Sorted(maps.Keys(out))
	// The dimension is a column of the answer only when there are several.
	sel, groupBy := group, group
	if len(dims) > 1 {
		sel, groupBy = "dim, "+group, "dim, "+group
	}
	pg := dialectOf(q) == store.Postgres
	dimCond := "dim = ?"
	args := []any{dims[0]}
	if len(dims) > 1 {
		if pg {
			dimCond, args = "dim = ANY(?::text[])", []any{dims}
		} else {
			dimCond, args = "dim IN ("+placeholders(len(dims))+")", nil
			for _, d := range dims {
				args = append(args, d)
			}
		}
	}
	cols := columnsOf(ms)
	if pg {
		cols = sumSelectOf(ms)
	}
	periodCond, periodArgs := periodsIn(pg, periods)
	query := "SELECT " + sel + ", " + cols + " FROM stat_counts WHERE " + dimCond + " AND " + periodCond
	args = append(args, periodArgs...)
	if sc.oneKey {
		query += " AND dim_key = ?"
		args = append(args, sc.key)
	}
	if pg {
		query += " GROUP BY " + groupBy
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	dim, key := dims[0], ""
	lead := []any{&key}
	if len(dims) > 1 {
		lead = []any{&dim, &key}
	}
	row := newCounterRow(len(ms), lead...)
	for rows.Next() {
		if err := row.scan(rows); err != nil {
			return err
		}
		v := out[dim].at(key)
		for i, m := range ms {
			v[m] += row.vals[i]
		}
	}
	return rows.Err()
}

// dialectOf is the dialect of a database or transaction.
func dialectOf(q querier) store.Dialect {
	switch v := q.(type) {
	case *store.DB:
		return v.Dialect
	case *store.Tx:
		return v.Dialect()
	}
	return store.SQLite
}

var columnLists sync.Map // metric list → column list

func columnsOf(ms []metric) string {
	key := fmt.Sprint(ms)
	if v, ok := columnLists.Load(key); ok {
		return v.(string)
	}
	cols := make([]string, len(ms))
	for i, m := range ms {
		cols[i] = m.column()
	}
	v := strings.Join(cols, ", ")
	columnLists.Store(key, v)
	return v
}

// periodSums sums the counters of scope over [from, to].
func periodSums(ctx context.Context, q querier, sc scope, from, to county.Date) (sums, error) {
	out := sums{}
	if to.Before(from) {
		return out, nil
	}
	return out, readSums(ctx, q, sc, periodKeys(from, to), dimMetrics(sc.dim), out)
}

// figureKeys tiles [from, to] for the figures: the part up to today, and
// the part after it, whose due-day metrics do not count (see
// dueDayMetrics: a matter still within its time limit is neither on time
// nor late).
func figureKeys(from, to, today county.Date) (upToToday, afterToday []string) {
	switch {
	case to.Before(from):
		return nil, nil
	case !today.Before(to):
		return periodKeys(from, to), nil
	}
	if !today.Before(from) {
		upToToday = periodKeys(from, today)
	}
	return upToToday, periodKeys(maxDate(from, today.AddDays(1)), to)
}

// months splits [from, to] at month boundaries.
func months(from, to county.Date) [][2]county.Date {
	var out [][2]county.Date
	for m := county.NewDate(from.Year(), from.Month(), 1); !to.Before(m); m = county.NewDate(m.Year(), m.Month()+1, 1) {
		a, b := m, monthEnd(m)
		if a.Before(from) {
			a = from
		}
		if to.Before(b) {
			b = to
		}
		out = append(out, [2]county.Date{a, b})
	}
	return out
}

func maxDate(a, b county.Date) county.Date {
	if a.Before(b) {
		return b
	}
	return a
}

// firstYear is the first year holding data, 0 when there is none: every
// counter has a county-total row, so the smallest total period starts
// with it.
func firstYear(ctx context.Context, q querier) (int, error) {
	var first sql.NullString
	if err := q.QueryRow(ctx, `SELECT MIN(period) FROM stat_counts WHERE dim = ?`, dimTotal).Scan(&first); err != nil {
		return 0, fmt.Errorf("first counter year: %w", err)
	}
	if !first.Valid || len(first.String) < 4 {
		return 0, nil
	}
	year := 0
	if _, err := fmt.Sscanf(first.String[:4], "%d", &year); err != nil {
		return 0, fmt.Errorf("first counter year %q: %w", first.String, err)
	}
	return year, nil
}

// levelSums sums the counters of scope over every day from the first year
// with data (first) up to asOf: for the level counters (积案) that is their
// level as of that day.
func levelSums(ctx context.Context, q querier, sc scope, first int, asOf county.Date) (sums, error) {
	out := sums{}
	if first == 0 {
		return out, nil
	}
	return out, readSums(ctx, q, sc, prefixKeys(first, asOf), levelMetrics, out)
}

// oneCount reads one counter of one key over periods.
func oneCount(ctx context.Context, q querier, m metric, dimName, key string, periods []string) (int64, error) {
	if len(periods) == 0 {
		return 0, nil
	}
	periodCond, periodArgs := periodsIn(dialectOf(q) == store.Postgres, periods)
	args := append(append([]any{dimName}, periodArgs...), key)
	var v sql.NullInt64
	err := q.QueryRow(ctx, "SELECT CAST(SUM("+m.column()+") AS BIGINT) FROM stat_counts WHERE dim = ? AND "+periodCond+
		" AND dim_key = ?", args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s of %s/%s: %w", metricNames[m], dimName, key, err)
	}
	return v.Int64, nil
}

// rangeCount sums one counter over the days [from, to].
func rangeCount(ctx context.Context, q querier, m metric, dimName, key string, from, to county.Date) (int64, error) {
	if to.Before(from) {
		return 0, nil
	}
	return oneCount(ctx, q, m, dimName, key, periodKeys(from, to))
}
