package supervision

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
	"xinfang.io/services/supervision/casemachine"
)

// RunTimers is the timer worker (run it with app.Go): it fires every due
// timer, then sleeps until the next one is due, Wake is called, or the poll
// interval passes. A transition that stores a timer wakes it only to say
// when that timer is due: the worker looks at the table again only when
// the timer is due at once or is earlier than the earliest it knew of, and
// at the poll interval (timers stored by another replica).
func (s *Supervision) RunTimers(ctx context.Context) error {
	var (
		look   = true    // fire what is due, then read when the next timer is
		next   time.Time // the earliest unfired timer known (zero: none)
		lookBy time.Time // the wall-clock time to look again at the latest
	)
	for {
		if look {
			s.metrics.scans.Inc()
			wait := s.poll
			next = time.Time{}
			if _, err := s.FireDue(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.ErrorContext(ctx, "fire timers", "error", err)
				wait = time.Second
			} else if at, ok, err := nextFire(ctx, s.db); err != nil {
				s.log.ErrorContext(ctx, "next timer", "error", err)
				wait = time.Second
			} else if ok {
				next = at
			}
			lookBy = time.Now().Add(wait)
		}
		wait := time.Until(lookBy)
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.clock.Now()), 10*time.Millisecond))
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake.ch:
			t.Stop()
			lookNow, planned := s.wake.take()
			look, next = afterWake(lookNow, planned, next, s.clock.Now())
			if look {
				s.hook("timers-look")
			} else {
				s.hook("timers-sleep")
			}
		case <-t.C:
			look = true
		}
	}
}

// afterWake decides what the timer worker does when woken: look at the
// table (when asked to, or when a timer stored since is due at now), or
// sleep on until the earliest timer it knows of, which a timer stored since
// may bring forward. planned and next are zero for none.
func afterWake(lookNow bool, planned, next, now time.Time) (look bool, earliest time.Time) {
	switch {
	case lookNow || (!planned.IsZero() && !planned.After(now)):
		return true, next
	case !planned.IsZero() && (next.IsZero() || planned.Before(next)):
		return false, planned
	default:
		return false, next
	}
}

// The timer worker's queries. Both are index ranges over the partial index
// of unfired timers by due time (supervision_timers_due;
// TestTimerQueriesUseTheDueIndex): their cost follows the number of due
// timers, not the number of cases or timers.
const (
	nextFireQuery = `SELECT fire_at FROM supervision_timers WHERE fired_at IS NULL ORDER BY fire_at, id LIMIT 1`
	scanDueQuery  = `SELECT id, case_id, timer_key, kind, clock, step, step_kind, clock_due, fire_at, notify_leader FROM supervision_timers WHERE fired_at IS NULL AND fire_at <= ? ORDER BY fire_at, id`
)

// Statements over a batch's ids, passed as one JSON array so that the
// statement text is the same whatever the batch size. On PostgreSQL the
// array is built once (= ANY(ARRAY(…))) so that the primary key serves the
// lookup whatever the planner thinks of the JSON's size.
var (
	lockCasesQuery = map[store.Dialect]string{
		store.SQLite:   `SELECT case_id, data, trace_parent FROM supervision_cases WHERE case_id IN (SELECT value FROM json_each(?)) ORDER BY case_id`,
		store.Postgres: `SELECT case_id, data, trace_parent FROM supervision_cases WHERE case_id = ANY(ARRAY(SELECT json_array_elements_text(?::json))) ORDER BY case_id FOR UPDATE`,
	}
	markFiredQuery = map[store.Dialect]string{
		store.SQLite:   `UPDATE supervision_timers SET fired_at = ? WHERE id IN (SELECT value FROM json_each(?))`,
		store.Postgres: `UPDATE supervision_timers SET fired_at = ? WHERE id = ANY(ARRAY(SELECT json_array_elements_text(?::json)::bigint))`,
	}
)

// nextFire is when the earliest unfired timer is due.
func nextFire(ctx context.Context, db querier) (time.Time, bool, error) {
	var at string
	err := db.QueryRow(ctx, nextFireQuery).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next timer: %w", err)
	}
	t, err := store.ParseTime(at)
	return t, err == nil, err
}

type dueTimer struct {
	id     int64
	caseID string
	timer  casemachine.Timer
}

// FireDue fires every timer due at the clock's now and returns how many it
// fired: a batch (TimerBatch) at a time, in firing order, each batch in one
// transaction (fireBatch).
func (s *Supervision) FireDue(ctx context.Context) (int, error) {
	now := s.clock.Now()
	total := 0
	for {
		n, more, err := s.fireBatch(ctx, now)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// scanDue reads up to limit timers due at now, in firing order.
func scanDue(ctx context.Context, db querier, now time.Time, limit int) ([]dueTimer, error) {
	rows, err := db.Query(ctx, scanDueQuery+store.Limit(limit), store.FormatTime(now))
	if err != nil {
		return nil, fmt.Errorf("due timers: %w", err)
	}
	defer rows.Close()
	var due []dueTimer
	for rows.Next() {
		var (
			d                              dueTimer
			kind, clock, stepKind, cd, fat string
			leader                         int
		)
		t := &d.timer
		if err := rows.Scan(&d.id, &d.caseID, &t.Key, &kind, &clock, &t.Step, &stepKind, &cd, &fat, &leader); err != nil {
			return nil, fmt.Errorf("due timers: %w", err)
		}
		t.Kind, t.Clock, t.StepKind, t.NotifyLeader = casemachine.TimerKind(kind), casemachine.ClockKind(clock), county.StepKind(stepKind), leader == 1
		if t.Due, err = county.ParseDate(cd); err != nil {
			return nil, fmt.Errorf("timer %d: %w", d.id, err)
		}
		if t.At, err = store.ParseTime(fat); err != nil {
			return nil, fmt.Errorf("timer %d: %w", d.id, err)
		}
		due = append(due, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due timers: %w", err)
	}
	return due, nil
}

// fireBatch fires the next batch of due timers in one transaction and says
// whether there may be more. Each timer is marked fired in the transaction
// that stores what it caused, so after a crash a timer has fired completely
// or not at all, and a second worker (another replica) skips it. One
// transaction per batch rather than per timer, with the batch's timers, case
// locks and fired marks each read or written by one statement, is what
// makes catching up after a restart fast (BenchmarkTimerCatchUp).
//
// Inside the transaction: scan the due timers; lock their cases in case-id
// order (every writer of a case locks it first; one order keeps two timer
// workers from deadlocking); on PostgreSQL scan again, now that the locks
// are held, and keep only the timers still unfired (another replica may
// have fired some meanwhile; SQLite has one writer). A firing that changed a
// case's clocks may have re-planned its timers: the case's later timers of
// the batch are left to the next scan, which sees the new plan. Last, each
// case whose timer fired stores its next one (planNext), and the batch asks
// for another scan when that one is due already.
func (s *Supervision) fireBatch(ctx context.Context, now time.Time) (int, bool, error) {
	cfg := s.config()
	var (
		fired []casemachine.Timer
		more  bool
	)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		fired, more = fired[:0], false
		due, err := scanDue(ctx, tx, now, s.batch)
		if err != nil || len(due) == 0 {
			return err
		}
		more = len(due) == s.batch
		cases, traces, err := lockCases(ctx, tx, due)
		if err != nil {
			return err
		}
		if tx.Dialect() == store.Postgres {
			again, err := scanDue(ctx, tx, now, s.batch)
			if err != nil {
				return err
			}
			still := make(map[int64]bool, len(again))
			for _, a := range again {
				still[a.id] = true
			}
			due = slices.DeleteFunc(due, func(d dueTimer) bool { return !still[d.id] })
		}
		replanned := map[string]bool{}
		unmarked := map[string][]int64{} // fired in this batch, to be marked at its end
		for _, d := range due {
			if replanned[d.caseID] {
				more = true // left to the next scan
				continue
			}
			moved, err := s.fireTimer(ctx, tx, cases, traces[d.caseID], d, now, cfg, unmarked[d.caseID])
			if err != nil {
				return err
			}
			if moved {
				replanned[d.caseID] = true
				delete(unmarked, d.caseID)
			} else {
				unmarked[d.caseID] = append(unmarked[d.caseID], d.id)
			}
			fired = append(fired, d.timer)
			s.hook("timer-fired-uncommitted")
		}
		var ids []int64
		for _, l := range unmarked {
			ids = append(ids, l...)
		}
		if err := markFired(ctx, tx, ids, now); err != nil {
			return err
		}
		// Each case whose timer fired gets its next one (a case stores
		// only its next timer: writePlan); one already due means another
		// scan, and so may a re-plan's.
		more = more || len(replanned) > 0
		touched := make([]string, 0, len(cases))
		for _, d := range due {
			touched = append(touched, d.caseID)
		}
		slices.Sort(touched)
		fireCases := make([]*casemachine.Case, 0, len(touched))
		for _, id := range slices.Compact(touched) {
			if c := cases[id]; c != nil {
				fireCases = append(fireCases, c)
			}
		}
		nextDue, err := s.planNext(ctx, tx, fireCases, cfg, now)
		if err != nil {
			return err
		}
		more = more || nextDue
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("fire due timers: %w", err)
	}
	for _, t := range fired {
		s.metrics.fired.WithLabelValues(string(t.Kind)).Inc()
		s.metrics.lag.Observe(now.Sub(t.At).Seconds())
		s.hook("timer-fired-committed")
	}
	return len(fired), more, nil
}

// jsonArray renders ids as a JSON array for the batch statements.
func jsonArray[T any](ids []T) string {
	b, err := json.Marshal(ids)
	if err != nil {
		panic(err) // strings and integers: cannot fail
	}
	return string(b)
}

// lockCases reads (and on PostgreSQL locks, in case-id order) the cases of
// the due timers, with the trace each was created in.
func lockCases(ctx context.Context, tx *store.Tx, due []dueTimer) (map[string]*casemachine.Case, map[string]trace.SpanContext, error) {
	ids := make([]string, 0, len(due))
	for _, d := range due {
		ids = append(ids, d.caseID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := tx.Query(ctx, lockCasesQuery[tx.Dialect()], jsonArray(ids))
	if err != nil {
		return nil, nil, fmt.Errorf("lock cases: %w", err)
	}
	defer rows.Close()
	cases := make(map[string]*casemachine.Case, len(ids))
	traces := make(map[string]trace.SpanContext, len(ids))
	for rows.Next() {
		var (
			id, data string
			tp       sql.NullString
		)
		if err := rows.Scan(&id, &data, &tp); err != nil {
			return nil, nil, fmt.Errorf("lock cases: %w", err)
		}
		var c casemachine.Case
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, nil, fmt.Errorf("load case %s: decode: %w", id, err)
		}
		cases[id], traces[id] = &c, spanContextOf(tp.String)
	}
	return cases, traces, rows.Err()
}

// markFired marks the batch's timers fired (those a re-plan of the batch
// deleted are gone already). They were read unfired under their cases'
// locks, so the statement needs no fired_at condition (which would tempt
// PostgreSQL's planner into the partial due index instead of the key).
func markFired(ctx context.Context, tx *store.Tx, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, markFiredQuery[tx.Dialect()], store.FormatTime(now), jsonArray(ids)); err != nil {
		return fmt.Errorf("mark %d timers fired: %w", len(ids), err)
	}
	return nil
}

// fireTimer fires one timer inside the batch's transaction and keeps the
// case in cases current for the batch's later timers. A firing that moves
// the case's clocks (a lapse) may re-plan its timers: such a timer, and the
// case's timers fired earlier in the batch (earlier), are marked fired at
// once, before the re-plan, so that their rows are kept and the plan cannot
// create them again (moved); the others are marked with the batch. Each firing is a
// trace of its own (a timer is not part of the request that planned it),
// linked to the case's trace so that an SRE can go from a reminder to the
// case's journey, with the case id on the span; the events it publishes
// carry that trace on.
func (s *Supervision) fireTimer(ctx context.Context, tx *store.Tx, cases map[string]*casemachine.Case, caseTrace trace.SpanContext,
	d dueTimer, now time.Time, cfg *county.Config, earlier []int64) (moved bool, err error) {
	t := d.timer
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithAttributes(tracing.CaseIDKey.String(d.caseID),
		attribute.String("xinfang.timer.kind", string(t.Kind)), attribute.String("xinfang.timer.key", t.Key))}
	if caseTrace.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: caseTrace,
			Attributes: []attribute.KeyValue{attribute.String("xinfang.link", "case")}}))
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, "supervision timer", opts...)
	defer span.End()
	c := cases[d.caseID]
	if c == nil {
		return false, nil
	}
	res, ferr := casemachine.Fire(c, t, casemachine.Env{Config: cfg, Now: now, NewID: s.newID})
	if ferr != nil {
		// A timer the machine cannot apply must not block the queue.
		span.RecordError(ferr)
		s.log.ErrorContext(ctx, "timer failed", "case", c.ID, "timer", t.Key, "error", ferr)
		if _, err := tx.Exec(ctx, `UPDATE supervision_timers SET failure = ? WHERE id = ?`, ferr.Error(), d.id); err != nil {
			return false, fmt.Errorf("timer %d: %w", d.id, err)
		}
		return false, nil
	}
	if !res.Ignored && (res.Case.State.Terminal() || !slices.Equal(c.Clocks, res.Case.Clocks)) {
		moved = true
		if err := markFired(ctx, tx, append(slices.Clone(earlier), d.id), now); err != nil {
			return false, err
		}
	}
	if err := s.persist(ctx, tx, c, res, cfg); err != nil {
		return false, fmt.Errorf("timer %d of case %s: %w", d.id, d.caseID, err)
	}
	if !res.Ignored {
		cases[d.caseID] = res.Case
	}
	return moved, nil
}

const tracerName = "xinfang.io/services/supervision"

// today is the clock's civil date in the county.
func (s *Supervision) today() county.Date { return county.DateOf(s.clock.Now()) }
