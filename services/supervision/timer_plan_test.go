package supervision

import (
	"context"
	"slices"
	"strings"
	"testing"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

// timerRowsOf lists a case's timer rows in the order they were stored:
// key, fired or not, and the day planned from ("" for none).
type timerRow struct {
	key   string
	fired bool
	from  string
}

func timerRowsOf(t *testing.T, db *store.DB, caseID string) []timerRow {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT timer_key, fired_at IS NOT NULL, COALESCE(planned_from, '') FROM supervision_timers WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []timerRow
	for rows.Next() {
		var r timerRow
		if err := rows.Scan(&r.key, &r.fired, &r.from); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wholePlan is the plan the case's stored timer was made from: every timer
// the case will fire while nothing moves its clocks.
func wholePlan(t *testing.T, h *harness, caseID string, from county.Date) []casemachine.Timer {
	t.Helper()
	c, err := loadCase(context.Background(), h.db, caseID, false)
	if err != nil || c == nil {
		t.Fatalf("load %s: %v", caseID, err)
	}
	return casemachine.Plan(c, h.cfg, from)
}

// A case stores its next timer only, and the worker plans each following
// one as the last fires: the timers that fire are the whole plan made when
// the clock started, in its order, whether the worker fires them day by day
// or catches up on all of them at once after being down (the reminders
// before the day it catches up on still go out: the plan is made from the
// day recorded with the timer, not from the day it fires).
func TestTimersArePlannedOneAtATime(t *testing.T) { each(t, testTimersArePlannedOneAtATime) }

func testTimersArePlannedOneAtATime(t *testing.T, h *harness) {
	// h catches up at once; daily (SQLite) fires the same case day by day.
	daily := newHarness(t, storetest.SQLite(t))
	var plan []casemachine.Timer
	for _, x := range []*harness{h, daily} {
		x.set("2026-06-01 09:00")
		x.assign("c", "rsj")
		x.act(dept("rsj"), "c", ack)
		x.act(dept("rsj"), "c", accept)
		x.events()
		plan = wholePlan(t, x, "c", date("2026-06-01"))
		if len(plan) != 8 {
			t.Fatalf("the handling clock plans %d timers, want 8 (3 reminders, overdue, 4 ladder steps)", len(plan))
		}
		rows := timerRowsOf(t, x.db, "c")
		if len(rows) != 1 || rows[0].fired || rows[0].key != plan[0].Key || rows[0].from != "2026-06-01" {
			t.Fatalf("the case stores %+v, want only the plan's first timer %s, planned from 2026-06-01", rows, plan[0].Key)
		}
	}
	for d := date("2026-06-02"); !d.After(date("2026-09-01")); d = d.AddDays(1) {
		daily.advance(d.String() + " 09:00")
	}
	h.advance("2026-09-01 09:00")
	var want []string
	for _, p := range plan {
		want = append(want, p.Key)
	}
	for name, x := range map[string]*harness{"caught up": h, "day by day": daily} {
		var keys []string
		for _, r := range timerRowsOf(t, x.db, "c") {
			if !r.fired {
				t.Fatalf("%s: timer %s unfired after the whole plan was due", name, r.key)
			}
			keys = append(keys, r.key)
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("%s fired\n %s\nwant the whole plan\n %s", name, strings.Join(keys, "\n "), strings.Join(want, "\n "))
		}
	}
	caught, byDay := perCase(t, h.db)["c"], perCase(t, daily.db)["c"]
	if len(caught) == 0 || !slices.Equal(caught, byDay) {
		t.Fatalf("catching up and firing day by day published different events:\n%s\n--\n%s",
			strings.Join(caught, "\n"), strings.Join(byDay, "\n"))
	}
}

// Timers stored before a case stored its next timer only (the whole plan,
// no day planned from) keep firing once each, and the case then goes on
// one timer at a time: its events are those of a twin case planned the new
// way.
func TestTimersStoredAsWholePlansStillFire(t *testing.T) {
	each(t, testTimersStoredAsWholePlansStillFire)
}

func testTimersStoredAsWholePlansStillFire(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-06-01 09:00")
	for _, id := range []string{"old", "new"} {
		h.assign(id, "rsj")
		h.act(rsj, id, ack)
		h.act(rsj, id, accept)
	}
	h.events()
	// "old" gets the rows the earlier code stored: its whole plan.
	plan := wholePlan(t, h, "old", date("2026-06-01"))
	err := h.db.InTx(context.Background(), func(tx *store.Tx) error {
		if _, err := tx.Exec(context.Background(), `DELETE FROM supervision_timers WHERE case_id = 'old'`); err != nil {
			return err
		}
		for _, p := range plan {
			if _, err := tx.Exec(context.Background(), `INSERT INTO supervision_timers (case_id, timer_key, kind, clock, step, step_kind, clock_due, fire_at, notify_leader) VALUES ('old', ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.Key, string(p.Kind), string(p.Clock), p.Step, string(p.StepKind), p.Due.String(), store.FormatTime(p.At), b2i(p.NotifyLeader)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Halfway: some fired, the rest still stored and unfired, nothing added.
	h.advance("2026-07-20 09:00")
	rows := timerRowsOf(t, h.db, "old")
	if len(rows) != len(plan) {
		t.Fatalf("old-style case has %d rows halfway, want its %d", len(rows), len(plan))
	}
	// An extension-free breach and its ladder: all fire, once.
	h.advance("2026-09-01 09:00")
	got := perCase(t, h.db)
	if len(got["old"]) == 0 || !slices.Equal(got["old"], got["new"]) {
		t.Fatalf("whole-plan rows published\n%s\nthe case planned one at a time\n%s",
			strings.Join(got["old"], "\n"), strings.Join(got["new"], "\n"))
	}
	for _, r := range timerRowsOf(t, h.db, "old") {
		if !r.fired {
			t.Fatalf("old-style timer %s unfired", r.key)
		}
	}
}
