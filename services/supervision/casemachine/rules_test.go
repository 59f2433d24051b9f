package casemachine

import (
	"testing"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
)

func withDeadlines(t *testing.T, f func(d *county.Deadlines)) *county.Config {
	t.Helper()
	spec := anji(t).Spec.DeepCopy()
	if spec.Deadlines == nil {
		spec.Deadlines = &county.Deadlines{}
	}
	f(spec.Deadlines)
	cfg, err := county.NewConfig("anji", *spec)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func i32(v int32) *int32 { return &v }

func day(s string) county.Date {
	d, err := county.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Tighten shortens running obligations to the county's new period, keeping
// the extension granted and the hearing days not counted; it never
// lengthens a period and leaves the petitioner's windows alone.
func TestTightenOnlyShortensObligations(t *testing.T) {
	cfg := anji(t)
	c := assignedCase(t, cfg, "2026-03-02 09:00", eventsv1.Category_CATEGORY_COMPLAINT)
	c = step(t, c, Command{Action: ActAcknowledge}, "2026-03-02 10:00")
	c = step(t, c, Command{Action: ActAccept}, "2026-03-02 10:00")
	c = step(t, c, Command{Action: ActExtend, Days: 20, Reason: "复杂", PetitionerNotified: true}, "2026-03-10 10:00")
	if due := c.Running(ClockHandling).Due; due != day("2026-05-21") {
		t.Fatalf("extended due %s", due)
	}

	// Stricter: 40 days + the 20 granted, from 03-02: 05-01 → 05-06 (劳动节).
	strict := withDeadlines(t, func(d *county.Deadlines) { d.HandlingDays = i32(40) })
	res := Tighten(c, env(strict, "2026-03-11 09:00"))
	if res.Ignored || len(res.Events) != 1 {
		t.Fatalf("tighten: %+v", res)
	}
	ch := res.Events[0].GetCaseDeadlineChanged()
	if ch.GetClock() != eventsv1.Clock_CLOCK_HANDLING || ch.GetPreviousDue() != "2026-05-21" || ch.GetNewDue() != "2026-05-06" ||
		ch.GetDepartment() != "rsj" || ch.GetRulesVersion() != strict.Version || res.Events[0].GetActor().GetKind() != eventsv1.ActorKind_ACTOR_KIND_SYSTEM {
		t.Fatalf("event %v", res.Events[0])
	}
	cl := res.Case.Running(ClockHandling)
	if cl.Days != 40 || cl.ExtendedDays != 20 || cl.Due != day("2026-05-06") {
		t.Fatalf("tightened clock %+v", cl)
	}
	if c.Running(ClockHandling).Due != day("2026-05-21") {
		t.Fatal("Tighten changed its input")
	}
	// Looser, or the same: nothing moves.
	for _, cfg := range []*county.Config{anji(t), withDeadlines(t, func(d *county.Deadlines) { d.HandlingDays = i32(50) })} {
		if res := Tighten(res.Case, env(cfg, "2026-03-12 09:00")); !res.Ignored {
			t.Fatalf("a looser rule moved the due date: %v", res.Events)
		}
	}

	// The petitioner's review window keeps the date given in the notice.
	s := step(t, res.Case, Command{Action: ActReply, Outcome: "supported", Opinion: "x"}, "2026-03-20 09:00")
	s = step(t, s, Command{Action: ActServe, Method: "post"}, "2026-03-21 09:00")
	short := withDeadlines(t, func(d *county.Deadlines) { d.ReviewRequestDays = i32(10); d.EvaluationDays = i32(3) })
	if res := Tighten(s, env(short, "2026-03-22 09:00")); !res.Ignored {
		t.Fatalf("a window was shortened: %v", res.Events)
	}
}
