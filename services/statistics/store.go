package statistics

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
)

// caseStatesSQL selects case states by id (SQLite; IN list padded, see
// inSizes).
func caseStatesSQL(n int) string {
	return `SELECT case_id, state FROM stat_cases WHERE case_id IN (` + placeholders(n) + `)`
}

// loadCases reads the states of the cases (for update); a case without a
// row yet starts empty. On PostgreSQL one statement creates the missing
// rows and locks and returns every row, in id order, so that replicas
// applying events of the same cases from different topics queue instead of
// deadlocking (SQLite has one writer).
func loadCases(ctx context.Context, tx *store.Tx, ids []string) (map[string]*caseState, error) {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	ids = slices.Compact(ids)
	out := make(map[string]*caseState, len(ids))
	if tx.Dialect() == store.Postgres {
		for len(ids) > 0 {
			n := min(len(ids), arrayRows)
			rows, err := tx.Query(ctx, lockCasesSQL, ids[:n])
			if err != nil {
				return nil, fmt.Errorf("load cases: %w", err)
			}
			if err := scanCases(rows, out); err != nil {
				return nil, err
			}
			ids = ids[n:]
		}
		return out, nil
	}
	for len(ids) > 0 {
		n := min(len(ids), inChunk(tx.Dialect()))
		ps := padded(ids[:n])
		ids = ids[n:]
		args := make([]any, len(ps))
		for i, id := range ps {
			args[i] = id
		}
		rows, err := tx.Query(ctx, caseStatesSQL(len(ps)), args...)
		if err != nil {
			return nil, fmt.Errorf("load cases: %w", err)
		}
		if err := scanCases(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanCases decodes (case_id, state) rows into out and closes them.
func scanCases(rows *sql.Rows, out map[string]*caseState) error {
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return fmt.Errorf("load cases: %w", err)
		}
		var c caseState
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return fmt.Errorf("load case %s: decode state: %w", id, err)
		}
		out[id] = &c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load cases: %w", err)
	}
	return nil
}

// savedCase is a case state to write.
type savedCase struct {
	id string
	c  *caseState
}

var (
	saveCasesSQL = &store.MultiRow{Head: `INSERT INTO stat_cases (case_id, state, overdue_department) VALUES `, Row: `(?, ?, ?)`,
		Tail: ` ON CONFLICT (case_id) DO UPDATE SET state = excluded.state, overdue_department = excluded.overdue_department`}
	insertMattersSQL = &store.MultiRow{Head: `INSERT INTO stat_petitioner_matters (petitioner_key, case_id, matter_id, day) VALUES `,
		Row: `(?, ?, ?, ?)`, Tail: ` ON CONFLICT DO NOTHING`}

	// lockCasesSQL (PostgreSQL) creates the batch's missing case rows and
	// locks the others, returning every row's state: an existing row is
	// "updated" to itself, which under READ COMMITTED locks and returns its
	// newest committed version, even one committed after the statement
	// began (a separate SELECT … FOR UPDATE after an INSERT … DO NOTHING was
	// one round trip more).
	lockCasesSQL = store.Unnest{Into: `stat_cases (case_id, state)`, Arrays: [][2]string{{"case_id", "text"}}, Select: `case_id, '{}'`,
		Tail: ` ON CONFLICT (case_id) DO UPDATE SET state = stat_cases.state RETURNING case_id, state`}.Text()
	// The PostgreSQL forms of the two above.
	saveCaseArraysSQL = store.Unnest{Into: `stat_cases (case_id, state, overdue_department)`,
		Arrays: [][2]string{{"case_id", "text"}, {"state", "text"}, {"overdue_department", "text"}}, Tail: saveCasesSQL.Tail}.Text()
	insertMatterArraysSQL = store.Unnest{Into: `stat_petitioner_matters (petitioner_key, case_id, matter_id, day)`,
		Arrays: [][2]string{{"petitioner_key", "text"}, {"case_id", "text"}, {"matter_id", "text"}, {"day", "text"}},
		Tail:   insertMattersSQL.Tail}.Text()
)

// inChunk is how many values one IN list holds (see sqliteParams).
func inChunk(store.Dialect) int { return inSizes[len(inSizes)-1] }

// saveCases writes case states (ids distinct, in order).
func saveCases(ctx context.Context, tx *store.Tx, cases []savedCase) error {
	encode := func(sc savedCase) (string, error) {
		raw, err := json.Marshal(sc.c)
		if err != nil {
			return "", fmt.Errorf("save case %s: %w", sc.id, err)
		}
		return string(raw), nil
	}
	if tx.Dialect() == store.Postgres {
		for len(cases) > 0 {
			n := min(len(cases), arrayRows)
			ids, states, overdue := make([]string, n), make([]string, n), make([]string, n)
			for i, sc := range cases[:n] {
				raw, err := encode(sc)
				if err != nil {
					return err
				}
				ids[i], states[i], overdue[i] = sc.id, raw, sc.c.OverdueDept
			}
			if err := tx.ExecDeferred(ctx, saveCaseArraysSQL, ids, states, overdue); err != nil {
				return fmt.Errorf("save cases: %w", err)
			}
			cases = cases[n:]
		}
		return nil
	}
	for _, n := range chunks(len(cases), shapes(3)) {
		args := make([]any, 0, 3*n)
		for _, sc := range cases[:n] {
			raw, err := encode(sc)
			if err != nil {
				return err
			}
			args = append(args, sc.id, raw, sc.c.OverdueDept)
		}
		cases = cases[n:]
		if _, err := tx.Exec(ctx, saveCasesSQL.Text(n), args...); err != nil {
			return fmt.Errorf("save cases: %w", err)
		}
	}
	return nil
}

// matterRow records that a petitioner raised a matter (through a case) on
// a day.
type matterRow struct {
	key, caseID, matter, day string
}

func insertMatters(ctx context.Context, tx *store.Tx, rows []matterRow) error {
	if tx.Dialect() == store.Postgres {
		for len(rows) > 0 {
			n := min(len(rows), arrayRows)
			keys, cases, matters, days := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			for i, r := range rows[:n] {
				keys[i], cases[i], matters[i], days[i] = r.key, r.caseID, r.matter, r.day
			}
			if err := tx.ExecDeferred(ctx, insertMatterArraysSQL, keys, cases, matters, days); err != nil {
				return fmt.Errorf("record petitioner matters: %w", err)
			}
			rows = rows[n:]
		}
		return nil
	}
	for _, n := range chunks(len(rows), shapes(4)) {
		args := make([]any, 0, 4*n)
		for _, r := range rows[:n] {
			args = append(args, r.key, r.caseID, r.matter, r.day)
		}
		rows = rows[n:]
		if _, err := tx.Exec(ctx, insertMattersSQL.Text(n), args...); err != nil {
			return fmt.Errorf("record petitioner matters: %w", err)
		}
	}
	return nil
}

// petitionerMatters lists the petitioner's (matter, case) rows within
// [from, to].
func petitionerMatters(ctx context.Context, tx *store.Tx, key, from, to string) ([]matterRow, error) {
	rows, err := tx.Query(ctx, `SELECT matter_id, case_id, day FROM stat_petitioner_matters WHERE petitioner_key = ? AND day >= ? AND day <= ?`,
		key, from, to)
	if err != nil {
		return nil, fmt.Errorf("petitioner matters: %w", err)
	}
	defer rows.Close()
	var out []matterRow
	for rows.Next() {
		m := matterRow{key: key}
		if err := rows.Scan(&m.matter, &m.caseID, &m.day); err != nil {
			return nil, fmt.Errorf("petitioner matters: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// overdueCases lists (up to limit) and counts a department's open cases
// marked overdue. The redundant test for a non-empty department repeats
// the partial index's own predicate: a generic plan (statistics plans PostgreSQL statements once,
// XINFANG_DB_GENERIC_PLANS) cannot prove it from a parameter and would
// scan every case row.
func overdueCases(ctx context.Context, tx *store.Tx, dept string, limit int) (int64, []string, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM stat_cases WHERE overdue_department = ? AND overdue_department <> ''`, dept).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("overdue count: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT case_id FROM stat_cases WHERE overdue_department = ? AND overdue_department <> '' ORDER BY case_id LIMIT ?`, dept, limit)
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
		FROM stat_alerts WHERE raised_at >= ? ORDER BY raised_at DESC, id DESC`+store.Limit(maxAlerts), store.FormatTime(since))
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
