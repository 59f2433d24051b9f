package supervision

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/supervision/casemachine"
)

// Re-planning after a change of the county's rules. The county file is hot
// reloaded (county.Watcher); when what the timers depend on changes — the
// deadline table, the holiday calendar, the escalation ladder and its
// reminders — every open case is brought in line with the new rules:
// stricter deadlines pull running obligations' due dates (and their
// timers) earlier (casemachine.Tighten, case.deadline_changed), and the
// pending timers are re-planned under the new ladder. The progress is kept
// in supervision_replan, so a restart (or a service started after the file
// changed while it was down) finishes the work.

// rulesFingerprint identifies the parts of the county's rules that timers
// and running deadlines depend on. A change of anything else (a
// department's name, a routing rule, the Art. 40 answer window, which is
// read when a notice is issued) re-plans nothing.
func rulesFingerprint(cfg *county.Config) string {
	esc := cfg.Spec.Escalation.Effective()
	esc.AnswerWorkingDays = nil
	b, err := json.Marshal(struct {
		Deadlines  county.DeadlineTable
		Calendar   *county.CalendarSpec
		Escalation *county.Escalation
	}{cfg.Deadlines, cfg.Spec.Calendar, esc})
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// defaultReplanPage is how many open cases one re-plan transaction takes:
// small enough that a re-plan of a million cases never holds the (SQLite)
// writer for long, so department actions go on beside it.
const defaultReplanPage = 200

// Replan brings the open cases in line with the county rules in force when
// they differ (by rulesFingerprint) from the rules the timers were planned
// under, or finishes a re-plan that a restart interrupted; otherwise it
// does nothing. It returns how many cases it changed. Rules that change
// again while it runs make it start over under the newest.
func (s *Supervision) Replan(ctx context.Context) (int, error) {
	changed := 0
	for {
		cfg := s.config()
		fp := rulesFingerprint(cfg)
		var (
			stored string
			cursor sql.NullString
		)
		err := s.db.QueryRow(ctx, `SELECT fingerprint, cursor FROM supervision_replan WHERE id = 1`).Scan(&stored, &cursor)
		if errors.Is(err, sql.ErrNoRows) {
			// The first start with re-planning: the timers in the database
			// were planned by the rules in force.
			_, err = s.db.Exec(ctx, `INSERT INTO supervision_replan (id, fingerprint, cursor, updated_at) VALUES (1, ?, NULL, ?) ON CONFLICT DO NOTHING`,
				fp, store.FormatTime(s.clock.Now()))
			if err != nil {
				return changed, fmt.Errorf("re-plan: %w", err)
			}
			return changed, nil
		}
		if err != nil {
			return changed, fmt.Errorf("re-plan: %w", err)
		}
		if stored == fp && !cursor.Valid {
			return changed, nil
		}
		after := ""
		if stored == fp {
			after = cursor.String
			s.log.InfoContext(ctx, "re-plan resumed", "rules", cfg.Version, "after", after)
		} else {
			s.log.InfoContext(ctx, "county rules changed: re-planning open cases", "rules", cfg.Version)
		}
		n, done, err := s.replanFrom(ctx, cfg, fp, after)
		changed += n
		if err != nil {
			return changed, err
		}
		if done {
			s.log.InfoContext(ctx, "re-plan done", "rules", cfg.Version, "changed", changed)
			return changed, nil
		}
		// The rules changed under us: start over with the newest.
	}
}

// replanFrom re-plans open cases after case id after, a page per
// transaction, recording its progress with each page. It stops early (done
// false) when the rules in force are no longer fp.
func (s *Supervision) replanFrom(ctx context.Context, cfg *county.Config, fp, after string) (changed int, done bool, err error) {
	page := s.replanPage
	if page <= 0 {
		page = defaultReplanPage
	}
	for {
		if err := ctx.Err(); err != nil {
			return changed, false, err
		}
		if rulesFingerprint(s.config()) != fp {
			return changed, false, nil
		}
		var last string
		n := 0
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			ids, err := openCasesAfter(ctx, tx, after, page)
			if err != nil {
				return err
			}
			n = 0
			for _, id := range ids {
				c, err := s.replanCase(ctx, tx, id, cfg)
				if err != nil {
					return err
				}
				if c {
					n++
				}
			}
			var cursor any
			if len(ids) == page {
				last = ids[len(ids)-1]
				cursor = last
			}
			_, err = tx.Exec(ctx, `UPDATE supervision_replan SET fingerprint = ?, cursor = ?, updated_at = ? WHERE id = 1`,
				fp, cursor, store.FormatTime(s.clock.Now()))
			return err
		})
		if err != nil {
			return changed, false, fmt.Errorf("re-plan after case %q: %w", after, err)
		}
		changed += n
		s.hook("replan-page-committed")
		if last == "" {
			return changed, true, nil
		}
		after = last
	}
}

func openCasesAfter(ctx context.Context, tx *store.Tx, after string, limit int) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT case_id FROM supervision_cases WHERE case_id > ? AND state <> ? AND state <> ? ORDER BY case_id`+store.Limit(limit),
		after, string(casemachine.StateFinal), string(casemachine.StateClosed))
	if err != nil {
		return nil, fmt.Errorf("open cases: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("open cases: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// replanCase applies the rules in cfg to one open case: its running
// obligations are tightened (with their events), and its pending timers are
// replaced when they differ from what the rules plan now.
func (s *Supervision) replanCase(ctx context.Context, tx *store.Tx, caseID string, cfg *county.Config) (bool, error) {
	c, err := loadCase(ctx, tx, caseID, true)
	if err != nil || c == nil || c.State.Terminal() {
		return false, err
	}
	changed := false
	if res := casemachine.Tighten(c, s.env(cfg)); !res.Ignored {
		if err := s.persist(ctx, tx, c, res, cfg); err != nil {
			return false, err
		}
		c, changed = res.Case, true
	}
	from := s.today()
	plan := casemachine.Plan(c, cfg, from)
	st, err := storedTimers(ctx, tx, caseID)
	if err != nil {
		return false, err
	}
	var want []string
	if next, ok := st.firstToFire(plan); ok {
		want = []string{next.Key}
	}
	if slices.Equal(want, st.unfired) {
		return changed, nil
	}
	return true, s.writePlan(ctx, tx, caseID, plan, from, true)
}

// storedPlan is what a case's timer rows say: the keys of the unfired ones
// (sorted), the keys of the fired ones, the breaches that fired, and the
// day the newest plan was made from (fromKnown false when all rows were
// stored before that was recorded).
type storedPlan struct {
	unfired   []string
	fired     map[string]bool
	breaches  map[breachKey]bool
	from      county.Date
	fromKnown bool
}

// storedTimersColumns are what storedPlan is made of (scanStoredPlans).
const storedTimersColumns = `SELECT case_id, timer_key, kind, clock, clock_due, step_kind, step, fired_at IS NOT NULL, planned_from FROM supervision_timers`

// storedTimers reads a case's timer rows.
func storedTimers(ctx context.Context, tx *store.Tx, caseID string) (storedPlan, error) {
	rows, err := tx.Query(ctx, storedTimersColumns+` WHERE case_id = ?`, caseID)
	if err != nil {
		return storedPlan{}, fmt.Errorf("case %s timers: %w", caseID, err)
	}
	plans, err := scanStoredPlans(rows)
	if err != nil {
		return storedPlan{}, fmt.Errorf("case %s timers: %w", caseID, err)
	}
	return plans[caseID], nil // none stored: nothing fired, nothing pending
}

// storedTimersOf reads the timer rows of several cases in one statement
// (the batch's ids as a JSON array, as lockCases); a case without rows is
// missing from the map.
var storedTimersOfQuery = map[store.Dialect]string{
	store.SQLite:   storedTimersColumns + ` WHERE case_id IN (SELECT value FROM json_each(?))`,
	store.Postgres: storedTimersColumns + ` WHERE case_id = ANY(ARRAY(SELECT json_array_elements_text(?::json)))`,
}

func storedTimersOf(ctx context.Context, tx *store.Tx, caseIDs []string) (map[string]storedPlan, error) {
	rows, err := tx.Query(ctx, storedTimersOfQuery[tx.Dialect()], jsonArray(caseIDs))
	if err != nil {
		return nil, fmt.Errorf("timers of %d cases: %w", len(caseIDs), err)
	}
	plans, err := scanStoredPlans(rows)
	if err != nil {
		return nil, fmt.Errorf("timers of %d cases: %w", len(caseIDs), err)
	}
	return plans, nil
}

// scanStoredPlans reads timer rows into each case's storedPlan, and closes
// rows.
func scanStoredPlans(rows *sql.Rows) (map[string]storedPlan, error) {
	defer rows.Close()
	plans := map[string]storedPlan{}
	for rows.Next() {
		var (
			id, key string
			k       breachKey
			done    bool
			from    sql.NullString
		)
		if err := rows.Scan(&id, &key, &k.kind, &k.clock, &k.due, &k.stepKind, &k.step, &done, &from); err != nil {
			return nil, err
		}
		st, ok := plans[id]
		if !ok {
			st = storedPlan{fired: map[string]bool{}, breaches: map[breachKey]bool{}}
		}
		if from.Valid {
			d, err := county.ParseDate(from.String)
			if err != nil {
				return nil, fmt.Errorf("case %s timer %s: planned from: %w", id, key, err)
			}
			// Plans are made on the day they are stored, so the latest day
			// is the newest plan's.
			if !st.fromKnown || d.After(st.from) {
				st.from, st.fromKnown = d, true
			}
		}
		switch {
		case !done:
			st.unfired = append(st.unfired, key)
		case k.kind == string(casemachine.TimerOverdue) || k.kind == string(casemachine.TimerEscalation):
			st.breaches[k] = true
			st.fired[key] = true
		default:
			st.fired[key] = true
		}
		plans[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for id, st := range plans {
		slices.Sort(st.unfired)
		plans[id] = st
	}
	return plans, nil
}

// RunReplanner re-plans at start (a file changed while the service was
// down, or a re-plan cut short) and after every change of the county file
// (updates: county.Watcher.Subscribe). A failed re-plan is retried.
func (s *Supervision) RunReplanner(ctx context.Context, updates <-chan *county.Config) error {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-updates:
		case <-retry.C:
		}
		if _, err := s.Replan(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.ErrorContext(ctx, "re-plan after a county rules change", "error", err)
			retry.Reset(10 * time.Second)
		}
	}
}
