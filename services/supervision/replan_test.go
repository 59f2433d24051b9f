package supervision

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

// rules returns the Anji rules edited by f (a new county file version).
func rules(t *testing.T, f func(s *county.Spec)) *county.Config {
	t.Helper()
	spec := anji(t).Spec.DeepCopy()
	f(spec)
	cfg, err := county.NewConfig("anji", *spec)
	if err != nil {
		t.Fatalf("edited county rules: %v", err)
	}
	return cfg
}

func i32(v int32) *int32 { return &v }

// stricter: handling 30 days instead of 60, 约谈 3 days after the breach
// instead of 7.
func stricter(s *county.Spec) {
	if s.Deadlines == nil {
		s.Deadlines = &county.Deadlines{}
	}
	s.Deadlines.HandlingDays = i32(30)
	s.Escalation.Ladder[2].AfterDays = i32(3)
}

func replan(t *testing.T, h *harness) int {
	t.Helper()
	n, err := h.svc.Replan(context.Background())
	if err != nil {
		t.Fatalf("re-plan: %v", err)
	}
	return n
}

func TestReplanAfterCountyRulesChange(t *testing.T) { each(t, testReplanAfterCountyRulesChange) }

func testReplanAfterCountyRulesChange(t *testing.T, h *harness) {
	rsj := dept("rsj")
	original := h.cfg
	h.set("2026-03-02 09:00")
	h.assign("p1", "rsj")
	h.act(rsj, "p1", ack)
	h.act(rsj, "p1", accept) // due 05-06
	h.assign("p2", "rsj")    // acknowledgement clock to 03-12
	h.assign("p3", "rsj")
	h.act(rsj, "p3", casemachine.Command{Action: casemachine.ActWithdraw, Reason: "撤回"})
	h.events()
	if n := replan(t, h); n != 0 {
		t.Fatalf("the first re-plan changed %d cases; it only records the rules", n)
	}

	// A rules change that timers do not depend on re-plans nothing.
	h.cfg = rules(t, func(s *county.Spec) { s.Departments[1].Name += "（新）" })
	if n := replan(t, h); n != 0 {
		t.Fatalf("renaming a department re-planned %d cases", n)
	}

	// Stricter rules on 03-05: p1's handling clock is 30 days from 03-02,
	// 04-01; its timers follow (50% on 03-17, 75% on 03-24, 3 days before
	// on 03-29). p2's acknowledgement clock keeps its length, and so its
	// next timer: the ladder's change reaches its later timers when they
	// are planned (a case stores its next timer only).
	h.set("2026-03-05 09:00")
	h.cfg = rules(t, stricter)
	if n := replan(t, h); n != 1 {
		t.Fatalf("re-plan changed %d cases, want p1", n)
	}
	h.expect("2026-03-05 deadline_changed HANDLING rsj 2026-05-06→2026-04-01")
	v := h.get("p1")
	if d := deadline(v, casemachine.ClockHandling); d.Due != date("2026-04-01") || d.Days != 30 {
		t.Fatalf("tightened handling clock %+v", d)
	}
	if last := v.History[len(v.History)-1]; last.Type != "case.deadline_changed" || !last.Published {
		t.Fatalf("history %+v", last)
	}
	if n := replan(t, h); n != 0 {
		t.Fatalf("a second re-plan under the same rules changed %d cases", n)
	}
	h.act(rsj, "p2", ack)
	h.events()

	// Looser rules again on 03-06: the due date does not move back (a
	// change of rules never lengthens a running period), the ladder does.
	// p1's next timer (the 03-17 reminder) stays; its ladder steps, planned
	// after the reminders fire, follow the rules then in force (04-09 for
	// 约谈 below, not the stricter rules' 04-05).
	h.set("2026-03-06 09:00")
	h.cfg = original
	if n := replan(t, h); n != 0 {
		t.Fatalf("loosening re-planned %d cases, want none (p1's next timer is the same)", n)
	}
	h.expect()
	h.advance("2026-04-10 00:00")
	// 10 working days after 04-02 skip 清明 (04-04..06): 04-17.
	h.expect(
		"2026-03-17 supervision REMINDER HANDLING rsj due=2026-04-01 step=0 leader=false",
		"2026-03-24 supervision REMINDER HANDLING rsj due=2026-04-01 step=0 leader=false",
		"2026-03-29 supervision REMINDER HANDLING rsj due=2026-04-01 step=0 leader=false",
		"2026-04-02 supervision OVERDUE HANDLING rsj due=2026-04-01 step=0 leader=false",
		"2026-04-02 supervision DUBAN_NOTICE HANDLING rsj due=2026-04-01 step=1 leader=false answerDue=2026-04-17",
		"2026-04-09 supervision INTERVIEW HANDLING rsj due=2026-04-01 step=2 leader=true",
	)

	// A ladder that now puts the 督办通知 two days after the breach: it went
	// out on 04-02 and does not go out again; the steps still to come
	// follow the new ladder (通报 +16 instead of +15).
	h.set("2026-04-10 09:00")
	h.cfg = rules(t, func(s *county.Spec) {
		s.Escalation.Ladder[1].AfterDays = i32(2)
		s.Escalation.Ladder[3].AfterDays = i32(16)
	})
	if n := replan(t, h); n != 1 {
		t.Fatalf("ladder change re-planned %d cases", n)
	}
	h.advance("2026-04-20 00:00")
	h.expect("2026-04-18 supervision CIRCULAR HANDLING rsj due=2026-04-01 step=3 leader=true")
}

// A re-plan cut short (a crash, a stop) is finished by the next start, from
// where it stopped; a service that starts after the file changed while it
// was down re-plans at start.
func TestReplanResumesAfterRestart(t *testing.T) { each(t, testReplanResumesAfterRestart) }

func testReplanResumesAfterRestart(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-03-02 09:00")
	for _, id := range []string{"q1", "q2", "q3"} {
		h.assign(id, "rsj")
		h.act(rsj, id, ack)
		h.act(rsj, id, accept)
	}
	h.events()
	replan(t, h)

	h.set("2026-03-05 09:00")
	h.cfg = rules(t, stricter)
	h.svc.replanPage = 1
	ctx, cancel := context.WithCancel(context.Background())
	h.svc.hook = func(stage string) {
		if stage == "replan-page-committed" {
			cancel() // stop after the first page
		}
	}
	if _, err := h.svc.Replan(ctx); err == nil {
		t.Fatal("the re-plan was not cut short")
	}
	h.expect("2026-03-05 deadline_changed HANDLING rsj 2026-05-06→2026-04-01")
	var cursor string
	if err := h.db.QueryRow(context.Background(), `SELECT cursor FROM supervision_replan WHERE id = 1`).Scan(&cursor); err != nil || cursor != "q1" {
		t.Fatalf("progress after one page: %q %v", cursor, err)
	}

	// The restarted service (same database and rules) goes on after q1.
	cfg := h.cfg
	restarted := New(Config{DB: h.db, Outbox: outbox.New(h.db, "anji"), County: func() *county.Config { return cfg },
		Clock: clock.NewManual(at("2026-03-05 10:00")), Consumer: "test-routing"})
	if n, err := restarted.Replan(context.Background()); err != nil || n != 2 {
		t.Fatalf("resumed re-plan changed %d cases (%v), want q2 and q3", n, err)
	}
	h.expect(
		"2026-03-05 deadline_changed HANDLING rsj 2026-05-06→2026-04-01",
		"2026-03-05 deadline_changed HANDLING rsj 2026-05-06→2026-04-01",
	)
	if n, _ := restarted.Replan(context.Background()); n != 0 {
		t.Fatalf("a finished re-plan ran again: %d", n)
	}
	for _, id := range []string{"q1", "q2", "q3"} {
		if d := deadline(h.get(id), casemachine.ClockHandling); d.Due != date("2026-04-01") {
			t.Fatalf("%s handling clock %+v", id, d)
		}
	}
}

// The re-planner follows the county file: a new version on the watcher's
// subscription re-plans the open cases.
func TestReplannerFollowsTheCountyFile(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	// The rules as the watcher holds them: swapped atomically while the
	// re-planner reads them.
	var current atomic.Pointer[county.Config]
	current.Store(h.cfg)
	h.svc.config = current.Load
	rsj := dept("rsj")
	h.set("2026-03-02 09:00")
	h.assign("r1", "rsj")
	h.act(rsj, "r1", ack)
	h.act(rsj, "r1", accept)
	h.events()
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan *county.Config, 1)
	done := make(chan error, 1)
	go func() { done <- h.svc.RunReplanner(ctx, updates) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("re-planner: %v", err)
		}
	}()
	// At start the re-planner records the rules in force.
	waitFor(t, func() bool {
		var n int
		_ = h.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_replan`).Scan(&n)
		return n == 1
	})
	h.set("2026-03-05 09:00")
	cfg := rules(t, stricter)
	current.Store(cfg)
	updates <- cfg
	waitFor(t, func() bool { return deadline(h.get("r1"), casemachine.ClockHandling).Due == date("2026-04-01") })
	h.expect("2026-03-05 deadline_changed HANDLING rsj 2026-05-06→2026-04-01")
}

// waitFor polls cond until it holds (a behaviour of a goroutine, not a
// timing assertion: the bound only keeps a broken test from hanging).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
