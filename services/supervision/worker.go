package supervision

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/tracing"
	"xinfang.io/services/supervision/casemachine"
)

// RunTimers is the timer worker (run it with app.Go): it fires every due
// timer, then sleeps until the next one is due, a transition plans new
// timers (Wake), or the poll interval passes.
func (s *Supervision) RunTimers(ctx context.Context) error {
	for {
		wait := s.poll
		if _, err := s.FireDue(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.ErrorContext(ctx, "fire timers", "error", err)
			wait = time.Second
		} else if next, ok, err := s.nextFire(ctx); err != nil {
			s.log.ErrorContext(ctx, "next timer", "error", err)
			wait = time.Second
		} else if ok {
			wait = min(wait, max(next.Sub(s.clock.Now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// nextFire is when the earliest unfired timer is due.
func (s *Supervision) nextFire(ctx context.Context) (time.Time, bool, error) {
	var at string
	err := s.db.QueryRow(ctx, `SELECT fire_at FROM supervision_timers WHERE fired_at IS NULL ORDER BY fire_at, id LIMIT 1`).Scan(&at)
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
}

// FireDue fires every timer due at the clock's now, each in its own
// transaction, and returns how many it fired. The scan reads the partial
// index of unfired timers by due time: its cost follows the number of
// due timers, not the number of cases.
func (s *Supervision) FireDue(ctx context.Context) (int, error) {
	now := s.clock.Now()
	total := 0
	for {
		rows, err := s.db.Query(ctx, `SELECT id, case_id FROM supervision_timers WHERE fired_at IS NULL AND fire_at <= ? ORDER BY fire_at, id LIMIT ?`,
			store.FormatTime(now), s.batch)
		if err != nil {
			return total, fmt.Errorf("due timers: %w", err)
		}
		var due []dueTimer
		for rows.Next() {
			var d dueTimer
			if err := rows.Scan(&d.id, &d.caseID); err != nil {
				rows.Close()
				return total, fmt.Errorf("due timers: %w", err)
			}
			due = append(due, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("due timers: %w", err)
		}
		if len(due) == 0 {
			return total, nil
		}
		for _, d := range due {
			fired, err := s.fireOne(ctx, d, now)
			if err != nil {
				return total, err
			}
			if fired {
				total++
			}
		}
	}
}

// fireOne fires one timer: it is marked fired in the transaction that
// stores what it caused, so after a crash it has fired either completely
// or not at all, and a second worker (another replica) skips it.
func (s *Supervision) fireOne(ctx context.Context, d dueTimer, now time.Time) (bool, error) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "supervision timer", trace.WithAttributes(tracing.CaseIDKey.String(d.caseID)))
	defer span.End()
	cfg := s.config()
	fired := false
	var kind casemachine.TimerKind
	var lag time.Duration
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// Lock the case first, as every writer of a case does.
		c, err := loadCase(ctx, tx, d.caseID, true)
		if err != nil {
			return err
		}
		t, _, ok, err := loadTimer(ctx, tx, d.id)
		if err != nil || !ok {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE supervision_timers SET fired_at = ? WHERE id = ?`, store.FormatTime(now), d.id); err != nil {
			return fmt.Errorf("timer %d: %w", d.id, err)
		}
		fired, kind, lag = true, t.Kind, now.Sub(t.At)
		if c == nil {
			return nil
		}
		res, err := casemachine.Fire(c, t, casemachine.Env{Config: cfg, Now: now, NewID: s.newID})
		if err != nil {
			// A timer the machine cannot apply must not block the queue.
			s.log.ErrorContext(ctx, "timer failed", "case", c.ID, "timer", t.Key, "error", err)
			_, uerr := tx.Exec(ctx, `UPDATE supervision_timers SET failure = ? WHERE id = ?`, err.Error(), d.id)
			return uerr
		}
		if err := s.persist(ctx, tx, c, res, cfg); err != nil {
			return err
		}
		s.hook("timer-fired-uncommitted")
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("fire timer %d of case %s: %w", d.id, d.caseID, err)
	}
	if fired {
		s.metrics.fired.WithLabelValues(string(kind)).Inc()
		s.metrics.lag.Observe(lag.Seconds())
		s.hook("timer-fired-committed")
	}
	return fired, nil
}

const tracerName = "xinfang.io/services/supervision"

// today is the clock's civil date in the county.
func (s *Supervision) today() county.Date { return county.DateOf(s.clock.Now()) }
