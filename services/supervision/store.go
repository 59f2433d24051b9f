package supervision

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/supervision/casemachine"
)

// querier is what reads need from a transaction or the database.
type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// loadCase reads a case; nil when there is none. In a transaction on
// PostgreSQL the row is locked, so an HTTP action, a timer and a consumed
// event of one case apply one after the other (SQLite has one writer).
func loadCase(ctx context.Context, q querier, caseID string, lock bool) (*casemachine.Case, error) {
	query := `SELECT data FROM supervision_cases WHERE case_id = ?`
	if tx, ok := q.(*store.Tx); ok && lock && tx.Dialect() == store.Postgres {
		query += ` FOR UPDATE`
	}
	var data string
	err := q.QueryRow(ctx, query, caseID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load case %s: %w", caseID, err)
	}
	var c casemachine.Case
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return nil, fmt.Errorf("load case %s: decode: %w", caseID, err)
	}
	return &c, nil
}

// persist stores a transition in tx: the history entries, the case row,
// who may see it, its timers and the events for the outbox. old is the
// case before (nil when new).
func (s *Supervision) persist(ctx context.Context, tx *store.Tx, old *casemachine.Case, res *casemachine.Result, cfg *county.Config) error {
	if res.Ignored {
		return nil
	}
	n := res.Case
	seq := 0
	if old != nil {
		seq = old.Seq
	}
	now := s.clock.Now()
	if res.Received != nil {
		seq++
		if err := insertEnvelope(ctx, tx, seq, res.Received, false); err != nil {
			return err
		}
	}
	for _, ev := range res.Events {
		seq++
		if err := insertEnvelope(ctx, tx, seq, ev, true); err != nil {
			return err
		}
	}
	for _, note := range res.Notes {
		seq++
		if err := insertNote(ctx, tx, n.ID, seq, s.newID(), note, now); err != nil {
			return err
		}
	}
	n.Seq = seq
	if err := saveCase(ctx, tx, old != nil, n, now, traceParent(ctx)); err != nil {
		return err
	}
	if old == nil || !slices.Equal(old.Visibility(), n.Visibility()) {
		if err := saveAccess(ctx, tx, n, old != nil); err != nil {
			return err
		}
	}
	if err := s.replan(ctx, tx, old, n, cfg); err != nil {
		return err
	}
	if len(res.Events) > 0 {
		if err := s.outbox.Enqueue(ctx, tx, res.Events...); err != nil {
			return fmt.Errorf("case %s: %w", n.ID, err)
		}
	}
	return nil
}

// traceParent is the W3C traceparent of ctx's span ("" without one).
func traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// spanContextOf parses a stored traceparent (invalid when empty or bad).
func spanContextOf(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}

// saveCase writes the case row; a new case also records the trace it was
// created in (its timers link to it), an existing one keeps it.
func saveCase(ctx context.Context, tx *store.Tx, exists bool, c *casemachine.Case, now time.Time, traceparent string) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("save case %s: %w", c.ID, err)
	}
	var nextDue any
	if d := c.NextDue(); !d.IsZero() {
		nextDue = d.String()
	}
	if exists {
		err = tx.ExecDeferred(ctx, `UPDATE supervision_cases SET state = ?, category = ?, department = ?, next_due = ?, imported = ?, data = ?, updated_at = ? WHERE case_id = ?`,
			string(c.State), string(c.Category), c.Department, nextDue, b2i(c.Imported), string(data), store.FormatTime(now), c.ID)
	} else {
		var tp any
		if traceparent != "" {
			tp = traceparent
		}
		err = tx.ExecDeferred(ctx, `INSERT INTO supervision_cases (case_id, state, category, department, next_due, imported, data, updated_at, trace_parent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, string(c.State), string(c.Category), c.Department, nextDue, b2i(c.Imported), string(data), store.FormatTime(now), tp)
	}
	if err != nil {
		return fmt.Errorf("save case %s: %w", c.ID, err)
	}
	return nil
}

// saveAccess writes which departments may see the case; exists: the case
// was stored before, so its rows are replaced (cases are never deleted, so
// a new one has none).
func saveAccess(ctx context.Context, tx *store.Tx, c *casemachine.Case, exists bool) error {
	if exists {
		if err := tx.ExecDeferred(ctx, `DELETE FROM supervision_case_access WHERE case_id = ?`, c.ID); err != nil {
			return fmt.Errorf("case %s access: %w", c.ID, err)
		}
	}
	for _, d := range c.Visibility() {
		if err := tx.ExecDeferred(ctx, `INSERT INTO supervision_case_access (department, case_id) VALUES (?, ?)`, d, c.ID); err != nil {
			return fmt.Errorf("case %s access: %w", c.ID, err)
		}
	}
	return nil
}

var jsonOpts = protojson.MarshalOptions{}

func insertEnvelope(ctx context.Context, tx *store.Tx, seq int, env *eventsv1.Envelope, published bool) error {
	actor := "{}"
	if env.GetActor() != nil {
		b, err := jsonOpts.Marshal(env.GetActor())
		if err != nil {
			return fmt.Errorf("history %s: %w", env.GetEventId(), err)
		}
		actor = string(b)
	}
	payload := "{}"
	if p := env.PayloadMessage(); p != nil {
		b, err := jsonOpts.Marshal(p)
		if err != nil {
			return fmt.Errorf("history %s: %w", env.GetEventId(), err)
		}
		payload = string(b)
	}
	occurred, recorded := env.GetOccurredAt().AsTime(), env.GetRecordedAt().AsTime()
	if env.GetRecordedAt() == nil {
		recorded = occurred
	}
	err := tx.ExecDeferred(ctx, `INSERT INTO supervision_history (case_id, seq, event_id, type, occurred_at, recorded_at, imported, published, actor, reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		env.GetCaseId(), seq, env.GetEventId(), env.TypeName(), store.FormatTime(occurred), store.FormatTime(recorded),
		b2i(env.GetImported()), b2i(published), actor, env.GetReason(), payload)
	if err != nil {
		return fmt.Errorf("history %s of case %s: %w", env.GetEventId(), env.GetCaseId(), err)
	}
	return nil
}

func insertNote(ctx context.Context, tx *store.Tx, caseID string, seq int, id string, n casemachine.Note, now time.Time) error {
	actor := "{}"
	if n.Actor != nil {
		b, err := jsonOpts.Marshal(n.Actor)
		if err != nil {
			return err
		}
		actor = string(b)
	}
	detail, err := json.Marshal(n.Detail)
	if err != nil {
		return err
	}
	err = tx.ExecDeferred(ctx, `INSERT INTO supervision_history (case_id, seq, event_id, type, occurred_at, recorded_at, imported, published, actor, reason, payload) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)`,
		caseID, seq, id, "note."+n.Type, store.FormatTime(n.At), store.FormatTime(now), actor, n.Reason, string(detail))
	if err != nil {
		return fmt.Errorf("history note of case %s: %w", caseID, err)
	}
	return nil
}

// HistoryEntry is one entry of a case's history.
type HistoryEntry struct {
	Seq        int             `json:"seq"`
	EventID    string          `json:"eventId"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurredAt"`
	RecordedAt time.Time       `json:"recordedAt"`
	Imported   bool            `json:"imported,omitempty"`
	Published  bool            `json:"published"`
	Actor      json.RawMessage `json:"actor"`
	Reason     string          `json:"reason,omitempty"`
	Payload    json.RawMessage `json:"payload"`
}

func loadHistory(ctx context.Context, q querier, caseID string) ([]HistoryEntry, error) {
	rows, err := q.Query(ctx, `SELECT seq, event_id, type, occurred_at, recorded_at, imported, published, actor, reason, payload FROM supervision_history WHERE case_id = ? ORDER BY seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("history of case %s: %w", caseID, err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var (
			h                  HistoryEntry
			occ, rec           string
			imported, publishd int
			actor, payload     string
		)
		if err := rows.Scan(&h.Seq, &h.EventID, &h.Type, &occ, &rec, &imported, &publishd, &actor, &h.Reason, &payload); err != nil {
			return nil, fmt.Errorf("history of case %s: %w", caseID, err)
		}
		h.OccurredAt, _ = store.ParseTime(occ)
		h.RecordedAt, _ = store.ParseTime(rec)
		h.Imported, h.Published = imported == 1, publishd == 1
		h.Actor, h.Payload = json.RawMessage(actor), json.RawMessage(payload)
		out = append(out, h)
	}
	return out, rows.Err()
}

func timerKeys(ts []casemachine.Timer) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key
	}
	return out
}

// replan brings the case's unfired timer in line with its running clocks.
// A case that reached a terminal state loses all its timer rows. Otherwise,
// when the plan changed, the unfired timer is replaced by the plan's first
// still to fire (writePlan).
func (s *Supervision) replan(ctx context.Context, tx *store.Tx, old, n *casemachine.Case, cfg *county.Config) error {
	if n.State.Terminal() {
		if old != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM supervision_timers WHERE case_id = ?`, n.ID); err != nil {
				return fmt.Errorf("case %s timers: %w", n.ID, err)
			}
		}
		return nil
	}
	reopened := old == nil || old.State.Terminal()
	// The plan is a function of the clocks and Imported only (for an open
	// case): a transition that left them as they were (a reminder, a flag,
	// an answer) leaves it as it was, and most timer firings are such.
	if !reopened && old.Imported == n.Imported && slices.Equal(old.Clocks, n.Clocks) {
		return nil
	}
	from := county.DateOf(s.clock.Now())
	plan := casemachine.Plan(n, cfg, from)
	if !reopened && slices.Equal(timerKeys(plan), timerKeys(casemachine.Plan(old, cfg, from))) {
		return nil
	}
	return s.writePlan(ctx, tx, n.ID, plan, from, old != nil)
}

// writePlan replaces the case's unfired timer (existing: it may have one,
// or several planned before timers were stored one at a time) by the first
// timer of plan still to fire (firstToFire), recording the day the plan was
// made (from) so that the timer after it is planned alike (planNext).
//
// Only the next timer is stored: a case plans about eight (reminders, the
// overdue notice, the ladder's steps), most cases close before the later
// ones are due, and each stored row cost three B-tree inserts when the case
// opened and again at every re-plan (BenchmarkRoutingRun: half of opening a
// case). A timer that fired keeps its row, which is how the plan's fired
// timers are skipped; an overdue notice or ladder step that fired for the
// same clock and due date is not planned again either, even when the rules
// in force now date it differently (a re-plan after the county changed its
// ladder): no 督办 goes out twice for one breach.
func (s *Supervision) writePlan(ctx context.Context, tx *store.Tx, caseID string, plan []casemachine.Timer, from county.Date, existing bool) error {
	var st storedPlan
	if existing {
		if _, err := tx.Exec(ctx, `DELETE FROM supervision_timers WHERE case_id = ? AND fired_at IS NULL`, caseID); err != nil {
			return fmt.Errorf("case %s timers: %w", caseID, err)
		}
		if len(plan) > 0 {
			var err error
			if st, err = storedTimers(ctx, tx, caseID); err != nil {
				return err
			}
		}
	}
	next, ok := st.firstToFire(plan)
	if !ok {
		return nil
	}
	if err := insertTimers(ctx, tx, []nextTimer{{caseID: caseID, timer: next, from: from}}); err != nil {
		return err
	}
	tx.AfterCommit(func() { s.wake.planned(next.At) })
	return nil
}

// planNext stores, for each of the cases whose timers just fired that has
// no unfired timer left, the timer that follows: the first of its plan
// still to fire, the plan made from the day recorded with its timers (so
// reminders left out when they were planned stay out, and those missed
// while the worker was down still fire). The cases' rows are read by one
// statement and the timers stored by one, as the batch fired them. It says
// whether one of them is due at now (the caller must scan again).
func (s *Supervision) planNext(ctx context.Context, tx *store.Tx, cases []*casemachine.Case, cfg *county.Config, now time.Time) (bool, error) {
	open := make([]*casemachine.Case, 0, len(cases))
	ids := make([]string, 0, len(cases))
	for _, c := range cases {
		if c != nil && !c.State.Terminal() {
			open, ids = append(open, c), append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return false, nil
	}
	stored, err := storedTimersOf(ctx, tx, ids)
	if err != nil {
		return false, err
	}
	var (
		next []nextTimer
		due  bool
	)
	for _, c := range open {
		st := stored[c.ID]
		if len(st.unfired) > 0 {
			continue
		}
		from := st.from
		if !st.fromKnown {
			// Timers stored before the day of planning was (whole plans
			// then): its later timers have rows, so only what is still to
			// come counts.
			from = county.DateOf(now)
		}
		if t, ok := st.firstToFire(casemachine.Plan(c, cfg, from)); ok {
			next = append(next, nextTimer{caseID: c.ID, timer: t, from: from})
			due = due || !t.At.After(now)
		}
	}
	return due, insertTimers(ctx, tx, next)
}

// firstToFire is the first timer of plan (in firing order) that has not
// fired and whose breach has not been notified.
func (st storedPlan) firstToFire(plan []casemachine.Timer) (casemachine.Timer, bool) {
	for _, t := range plan {
		if !st.fired[t.Key] && !st.breaches[breachOf(t)] {
			return t, true
		}
	}
	return casemachine.Timer{}, false
}

// nextTimer is a case's next timer to store, with the day its plan was made
// from.
type nextTimer struct {
	caseID string
	timer  casemachine.Timer
	from   county.Date
}

// maxTimerRows bounds one insert of timers (SQLite allows 999 parameters in
// a statement, ten a row).
const maxTimerRows = 64

var insertTimerRows = &store.MultiRow{
	Head: `INSERT INTO supervision_timers (case_id, timer_key, kind, clock, step, step_kind, clock_due, fire_at, notify_leader, planned_from) VALUES `,
	Row:  `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	Tail: ` ON CONFLICT DO NOTHING`,
}

// insertTimers stores unfired timers. A row with the same key that fired
// is kept (DO NOTHING), so no timer fires twice.
func insertTimers(ctx context.Context, tx *store.Tx, ts []nextTimer) error {
	for len(ts) > 0 {
		n := min(len(ts), maxTimerRows)
		args := make([]any, 0, 10*n)
		for _, nt := range ts[:n] {
			t := nt.timer
			args = append(args, nt.caseID, t.Key, string(t.Kind), string(t.Clock), t.Step, string(t.StepKind), t.Due.String(), store.FormatTime(t.At), b2i(t.NotifyLeader), nt.from.String())
		}
		if err := tx.ExecDeferred(ctx, insertTimerRows.Text(n), args...); err != nil {
			return fmt.Errorf("store %d timers (case %s first): %w", n, ts[0].caseID, err)
		}
		ts = ts[n:]
	}
	return nil
}

// breachKey identifies an overdue notice or a ladder step of one breach
// whatever day the rules put it on.
type breachKey struct {
	kind, clock, due, stepKind string
	step                       int
}

func breachOf(t casemachine.Timer) breachKey {
	return breachKey{kind: string(t.Kind), clock: string(t.Clock), due: t.Due.String(), stepKind: string(t.StepKind), step: t.Step}
}

// ListQuery filters GET /v1/cases.
type ListQuery struct {
	Department string
	State      casemachine.State
	Overdue    *bool
	DueBefore  county.Date
	After      string // case id cursor
	Limit      int
}

// listCases reads a page of cases; visibleTo, when set, restricts the list
// to the cases that department's staff may see.
func listCases(ctx context.Context, db *store.DB, q ListQuery, visibleTo string, today county.Date) ([]*casemachine.Case, error) {
	var (
		b    strings.Builder
		args []any
	)
	b.WriteString(`SELECT c.data FROM supervision_cases c`)
	if visibleTo != "" {
		b.WriteString(` JOIN supervision_case_access a ON a.case_id = c.case_id AND a.department = ?`)
		args = append(args, visibleTo)
	}
	b.WriteString(` WHERE 1 = 1`)
	if q.Department != "" {
		b.WriteString(` AND c.department = ?`)
		args = append(args, q.Department)
	}
	if q.State != "" {
		b.WriteString(` AND c.state = ?`)
		args = append(args, string(q.State))
	}
	if q.Overdue != nil {
		if *q.Overdue {
			b.WriteString(` AND c.next_due < ?`)
		} else {
			b.WriteString(` AND (c.next_due IS NULL OR c.next_due >= ?)`)
		}
		args = append(args, today.String())
	}
	if !q.DueBefore.IsZero() {
		b.WriteString(` AND c.next_due < ?`)
		args = append(args, q.DueBefore.String())
	}
	if q.After != "" {
		b.WriteString(` AND c.case_id > ?`)
		args = append(args, q.After)
	}
	b.WriteString(` ORDER BY c.case_id LIMIT ?`)
	args = append(args, q.Limit)
	rows, err := db.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	defer rows.Close()
	var out []*casemachine.Case
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list cases: %w", err)
		}
		var c casemachine.Case
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("list cases: decode: %w", err)
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}
