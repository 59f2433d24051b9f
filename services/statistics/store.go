package statistics

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
)

// querier is a database or a transaction.
type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

// loadCase reads a case's state for update. The row is created first when
// missing, so that on PostgreSQL the FOR UPDATE lock serialises replicas
// applying events of one case from different topics (SQLite has one writer).
func loadCase(ctx context.Context, tx *store.Tx, caseID string) (*caseState, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO stat_cases (case_id, state) VALUES (?, '{}') ON CONFLICT DO NOTHING`, caseID); err != nil {
		return nil, fmt.Errorf("load case %s: %w", caseID, err)
	}
	q := `SELECT state FROM stat_cases WHERE case_id = ?`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	var raw string
	if err := tx.QueryRow(ctx, q, caseID).Scan(&raw); err != nil {
		return nil, fmt.Errorf("load case %s: %w", caseID, err)
	}
	var c caseState
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("load case %s: decode state: %w", caseID, err)
	}
	return &c, nil
}

func saveCase(ctx context.Context, tx *store.Tx, caseID string, c *caseState) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("save case %s: %w", caseID, err)
	}
	due := c.pendingDue()
	dept := ""
	if due != "" {
		dept = c.pendingDept()
	}
	if _, err := tx.Exec(ctx, `UPDATE stat_cases SET state = ?, pending_due = ?, pending_department = ?, overdue_department = ? WHERE case_id = ?`,
		string(raw), due, dept, c.OverdueDept, caseID); err != nil {
		return fmt.Errorf("save case %s: %w", caseID, err)
	}
	return nil
}

// upsertBatch bounds the rows of one multi-row upsert.
const upsertBatch = 200

// applyDeltas adds the deltas to the day counters and, summed per month, to
// the month counters: INSERT … ON CONFLICT DO UPDATE SET value = value +
// excluded.value, on both dialects.
func applyDeltas(ctx context.Context, tx *store.Tx, deltas []counterDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	monthly := map[counterKey]int64{}
	for _, d := range deltas {
		k := d.counterKey
		k.Day = k.Day[:7]
		monthly[k] += d.Delta
	}
	months := make([]counterDelta, 0, len(monthly))
	for k, v := range monthly {
		if v != 0 {
			months = append(months, counterDelta{k, v})
		}
	}
	sortDeltas(months)
	if err := upsert(ctx, tx, "stat_daily", "day", deltas); err != nil {
		return err
	}
	return upsert(ctx, tx, "stat_monthly", "month", months)
}

func upsert(ctx context.Context, tx *store.Tx, table, period string, deltas []counterDelta) error {
	for len(deltas) > 0 {
		n := min(len(deltas), upsertBatch)
		batch := deltas[:n]
		deltas = deltas[n:]
		var b strings.Builder
		args := make([]any, 0, 5*n)
		fmt.Fprintf(&b, "INSERT INTO %s (metric, dim, dim_key, %s, value) VALUES ", table, period)
		for i, d := range batch {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, d.Metric, d.Dim, d.Key, d.Day, d.Delta)
		}
		fmt.Fprintf(&b, " ON CONFLICT (metric, dim, dim_key, %s) DO UPDATE SET value = %s.value + excluded.value", period, table)
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("update %s: %w", table, err)
		}
	}
	return nil
}

// sums maps a dimension key to its metrics' sums over a period.
type sums map[string]map[string]int64

func (s sums) add(key, metric string, v int64) {
	m := s[key]
	if m == nil {
		m = map[string]int64{}
		s[key] = m
	}
	m[metric] += v
}

// periodSegments splits [from, to] into whole months (read from
// stat_monthly) and the partial months at either end (read from
// stat_daily): at most one month range and two day ranges.
type periodSegments struct {
	fromMonth, toMonth string      // whole months, "" when none
	days               [][2]string // partial months
}

func segments(from, to county.Date) periodSegments {
	var p periodSegments
	if to.Before(from) {
		return p
	}
	monthEnd := func(d county.Date) county.Date { return county.NewDate(d.Year(), d.Month()+1, 0) }
	first := from
	if from.Day() != 1 {
		end := monthEnd(from)
		if !end.Before(to) {
			p.days = append(p.days, [2]string{from.String(), to.String()})
			return p
		}
		p.days = append(p.days, [2]string{from.String(), end.String()})
		first = end.AddDays(1)
	}
	last := to
	if monthEnd(to) != to {
		start := county.NewDate(to.Year(), to.Month(), 1)
		if start.Before(first) {
			start = first
		}
		p.days = append(p.days, [2]string{start.String(), to.String()})
		last = start.AddDays(-1)
	}
	if !last.Before(first) {
		p.fromMonth, p.toMonth = first.String()[:7], last.String()[:7]
	}
	return p
}

// periodSums sums every counter of dimension dim over [from, to].
func periodSums(ctx context.Context, q querier, dim string, from, to county.Date) (sums, error) {
	out := sums{}
	p := segments(from, to)
	read := func(query string, args ...any) error {
		rows, err := q.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sum counters: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var key, metric string
			var v int64
			if err := rows.Scan(&key, &metric, &v); err != nil {
				return fmt.Errorf("sum counters: %w", err)
			}
			out.add(key, metric, v)
		}
		return rows.Err()
	}
	if p.fromMonth != "" {
		if err := read(`SELECT dim_key, metric, CAST(SUM(value) AS BIGINT) FROM stat_monthly WHERE dim = ? AND month >= ? AND month <= ? GROUP BY dim_key, metric`,
			dim, p.fromMonth, p.toMonth); err != nil {
			return nil, err
		}
	}
	for _, r := range p.days {
		if err := read(`SELECT dim_key, metric, CAST(SUM(value) AS BIGINT) FROM stat_daily WHERE dim = ? AND day >= ? AND day <= ? GROUP BY dim_key, metric`,
			dim, r[0], r[1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// figureSums is periodSums with the due-day metrics clipped to due days on
// or before today (see dueDayMetrics).
func figureSums(ctx context.Context, q querier, dim string, from, to, today county.Date) (sums, error) {
	out, err := periodSums(ctx, q, dim, from, to)
	if err != nil {
		return nil, err
	}
	if !today.Before(to) {
		return out, nil
	}
	clipped := sums{}
	if !today.Before(from) {
		if clipped, err = periodSums(ctx, q, dim, from, today); err != nil {
			return nil, err
		}
	}
	for key, m := range out {
		for metric := range m {
			if dueDayMetrics[metric] {
				m[metric] = clipped[key][metric]
			}
		}
	}
	return out, nil
}

// dayCount is one counter's value on one day.
func dayCount(ctx context.Context, q querier, metric, dim, key, day string) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT value FROM stat_daily WHERE metric = ? AND dim = ? AND dim_key = ? AND day = ?`,
		metric, dim, key, day).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// rangeCount sums one counter over [from, to] from the day rows.
func rangeCount(ctx context.Context, q querier, metric, dim, key, from, to string) (int64, error) {
	var v sql.NullInt64
	err := q.QueryRow(ctx, `SELECT CAST(SUM(value) AS BIGINT) FROM stat_daily WHERE metric = ? AND dim = ? AND dim_key = ? AND day >= ? AND day <= ?`,
		metric, dim, key, from, to).Scan(&v)
	return v.Int64, err
}

// backlogRow is the open cases of one department whose obligation fell due
// on one day.
type backlogRow struct {
	Due        string
	Department string
	Count      int64
}

// backlog reads the open cases past due (积案) through the pending_due index.
func backlog(ctx context.Context, q querier, today county.Date) ([]backlogRow, error) {
	rows, err := q.Query(ctx, `SELECT pending_due, pending_department, COUNT(*) FROM stat_cases
		WHERE pending_due <> '' AND pending_due < ? GROUP BY pending_due, pending_department`, today.String())
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	defer rows.Close()
	var out []backlogRow
	for rows.Next() {
		var r backlogRow
		if err := rows.Scan(&r.Due, &r.Department, &r.Count); err != nil {
			return nil, fmt.Errorf("backlog: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// matterOf is the matter a case belongs to for the repeat-petitioner rule:
// a repeat petition is the same matter as the case it repeats.
func matterOf(ctx context.Context, tx *store.Tx, caseID, repeatOf string) (string, error) {
	if repeatOf == "" {
		return caseID, nil
	}
	var m string
	err := tx.QueryRow(ctx, `SELECT matter_id FROM stat_petitioner_matters WHERE case_id = ? LIMIT 1`, repeatOf).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return repeatOf, nil
	}
	if err != nil {
		return "", fmt.Errorf("matter of %s: %w", repeatOf, err)
	}
	return m, nil
}

func recordMatter(ctx context.Context, tx *store.Tx, key, caseID, matter, day string) error {
	_, err := tx.Exec(ctx, `INSERT INTO stat_petitioner_matters (petitioner_key, case_id, matter_id, day) VALUES (?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, key, caseID, matter, day)
	if err != nil {
		return fmt.Errorf("record petitioner matter: %w", err)
	}
	return nil
}

// petitionerMatters returns, per matter, one case of the petitioner's
// within [from, to].
func petitionerMatters(ctx context.Context, tx *store.Tx, key, from, to string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT matter_id, case_id FROM stat_petitioner_matters WHERE petitioner_key = ? AND day >= ? AND day <= ?`,
		key, from, to)
	if err != nil {
		return nil, fmt.Errorf("petitioner matters: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var m, c string
		if err := rows.Scan(&m, &c); err != nil {
			return nil, err
		}
		if prev, ok := out[m]; !ok || c < prev {
			out[m] = c
		}
	}
	return out, rows.Err()
}

// overdueCases lists (up to limit) and counts a department's open cases
// marked overdue.
func overdueCases(ctx context.Context, tx *store.Tx, dept string, limit int) (int64, []string, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM stat_cases WHERE overdue_department = ?`, dept).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("overdue count: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT case_id FROM stat_cases WHERE overdue_department = ? ORDER BY case_id LIMIT ?`, dept, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("overdue cases: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, nil, err
		}
		ids = append(ids, id)
	}
	return n, ids, rows.Err()
}

// Alert is a raised early warning as the API lists it.
type Alert struct {
	ID        int64     `json:"id"`
	EventID   string    `json:"eventId"`
	CaseID    string    `json:"caseId"`
	Kind      string    `json:"kind"`
	KindLabel string    `json:"kindLabel"`
	Dimension string    `json:"dimension"`
	Key       string    `json:"key"`
	Label     string    `json:"label"`
	Day       string    `json:"day"`
	Count     int64     `json:"count"`
	Baseline  float64   `json:"baseline"`
	Threshold float64   `json:"threshold"`
	Window    string    `json:"window"`
	Message   string    `json:"message"`
	CaseIDs   []string  `json:"caseIds"`
	RaisedAt  time.Time `json:"raisedAt"`
	dedup     string
}

// insertAlert stores a once per dedup key; it reports false when an alert
// with the key exists.
func insertAlert(ctx context.Context, tx *store.Tx, a *Alert) (bool, error) {
	ids, _ := json.Marshal(a.CaseIDs)
	res, err := tx.Exec(ctx, `INSERT INTO stat_alerts (dedup_key, event_id, case_id, kind, dimension, dim_key, day, count, baseline, threshold, win, message, case_ids, raised_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING`,
		a.dedup, a.EventID, a.CaseID, a.Kind, a.Dimension, a.Key, a.Day, a.Count, a.Baseline, a.Threshold, a.Window, a.Message,
		string(ids), store.FormatTime(a.RaisedAt))
	if err != nil {
		return false, fmt.Errorf("store alert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store alert: %w", err)
	}
	return n == 1, nil
}

// maxAlerts bounds one alerts listing.
const maxAlerts = 500

func listAlerts(ctx context.Context, q querier, since time.Time) ([]Alert, error) {
	rows, err := q.Query(ctx, `SELECT id, event_id, case_id, kind, dimension, dim_key, day, count, baseline, threshold, win, message, case_ids, raised_at
		FROM stat_alerts WHERE raised_at >= ? ORDER BY raised_at DESC, id DESC LIMIT ?`, store.FormatTime(since), maxAlerts)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		var a Alert
		var ids, raised string
		if err := rows.Scan(&a.ID, &a.EventID, &a.CaseID, &a.Kind, &a.Dimension, &a.Key, &a.Day, &a.Count, &a.Baseline,
			&a.Threshold, &a.Window, &a.Message, &ids, &raised); err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		_ = json.Unmarshal([]byte(ids), &a.CaseIDs)
		if a.CaseIDs == nil {
			a.CaseIDs = []string{}
		}
		a.RaisedAt, _ = store.ParseTime(raised)
		a.RaisedAt = a.RaisedAt.In(county.Shanghai)
		out = append(out, a)
	}
	return out, rows.Err()
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
