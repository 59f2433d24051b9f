package casemachine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

var anjiCfg *county.Config

// anji is the Anji sample county with the 2026 holiday calendar.
func anji(t *testing.T) *county.Config {
	t.Helper()
	if anjiCfg == nil {
		c, err := county.Load("../../../operator/config/samples/county_anji.yaml")
		if err != nil {
			t.Fatal(err)
		}
		anjiCfg = c
	}
	return anjiCfg
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, county.Shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

func env(cfg *county.Config, now string) Env {
	n := 0
	return Env{Config: cfg, Now: at(now), NewID: func() string { n++; return fmt.Sprintf("ev-%d", n) }}
}

func assignedCase(t *testing.T, cfg *county.Config, on string, cat eventsv1.Category) *Case {
	t.Helper()
	in := &eventsv1.Envelope{EventId: "in-1", County: "anji", CaseId: "k1", OccurredAt: timestamppb.New(at(on))}
	if err := in.SetPayload(&eventsv1.CaseAssigned{Category: cat, LeadDepartment: "rsj", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := Route(nil, in, env(cfg, on))
	if err != nil {
		t.Fatal(err)
	}
	return res.Case
}

func step(t *testing.T, c *Case, cmd Command, now string) *Case {
	t.Helper()
	res, err := Act(c, cmd, env(anji(t), now))
	if err != nil {
		t.Fatalf("%s at %s: %v", cmd.Action, now, err)
	}
	return res.Case
}

func TestCalendarDeadlines(t *testing.T) {
	cfg := anji(t)
	for _, tc := range []struct {
		assigned, ackDue, objectionDue string
	}{
		// 02-05 + 10 = 02-15, in 春节 (02-15..23): the next working day.
		{"2026-02-05 09:00", "2026-02-24", "2026-02-12"},
		// 02-18 + 10 = 02-28: a Saturday, but a 调休 working day, so it stays;
		// it is also the fifth working day (02-24..27, 02-28).
		{"2026-02-18 09:00", "2026-02-28", "2026-02-28"},
		// Objection over the 调休 Saturday 02-14 and the holiday: 02-12, 02-13,
		// 02-14, 02-24, 02-25.
		{"2026-02-11 09:00", "2026-02-24", "2026-02-25"},
		// 07:30 on the 15th in Beijing is the 14th in UTC: the 15th counts.
		{"2026-02-15 07:30", "2026-02-25", "2026-02-28"},
		// A weekend inside the objection window: Fri 03-06 → Fri 03-13.
		{"2026-03-06 09:00", "2026-03-16", "2026-03-13"},
	} {
		c := assignedCase(t, cfg, tc.assigned, eventsv1.Category_CATEGORY_COMPLAINT)
		if got := c.Running(ClockAcknowledge).Due.String(); got != tc.ackDue {
			t.Errorf("assigned %s: acknowledge due %s, want %s", tc.assigned, got, tc.ackDue)
		}
		if got := c.Running(ClockObjection).Due.String(); got != tc.objectionDue {
			t.Errorf("assigned %s: objection due %s, want %s", tc.assigned, got, tc.objectionDue)
		}
	}

	// Handling by category: complaints 60, suggestions the county's 30,
	// accusations the statutory 60 (Anji sets none).
	for cat, want := range map[eventsv1.Category]string{
		eventsv1.Category_CATEGORY_COMPLAINT:   "2026-05-06", // 03-05 + 60 = 05-04, 劳动节
		eventsv1.Category_CATEGORY_SUGGESTION:  "2026-04-07", // 03-05 + 30 = 04-04, 清明 (04-04..06)
		eventsv1.Category_CATEGORY_ACCUSATION:  "2026-05-06",
		eventsv1.Category_CATEGORY_UNSPECIFIED: "",
	} {
		if cat == eventsv1.Category_CATEGORY_UNSPECIFIED {
			in := &eventsv1.Envelope{EventId: "x", County: "anji", CaseId: "k", OccurredAt: timestamppb.New(at("2026-03-05 09:00"))}
			_ = in.SetPayload(&eventsv1.CaseAssigned{LeadDepartment: "rsj"})
			if _, err := Route(nil, in, env(cfg, "2026-03-05 09:00")); err == nil {
				t.Error("an assignment without category was accepted")
			}
			continue
		}
		c := assignedCase(t, cfg, "2026-03-05 09:00", cat)
		c = step(t, c, Command{Action: ActAcknowledge}, "2026-03-05 10:00")
		c = step(t, c, Command{Action: ActAccept}, "2026-03-05 11:00")
		if got := c.Running(ClockHandling).Due.String(); got != want {
			t.Errorf("%s: handling due %s, want %s", cat, got, want)
		}
	}
}

func TestPlanIsNeverAFunctionOfWallClock(t *testing.T) {
	cfg := anji(t)
	c := assignedCase(t, cfg, "2026-06-01 09:00", eventsv1.Category_CATEGORY_COMPLAINT)
	c = step(t, c, Command{Action: ActAcknowledge}, "2026-06-01 09:00")
	c = step(t, c, Command{Action: ActAccept}, "2026-06-01 09:00")
	var got, keys []string
	for _, tm := range Plan(c, cfg, county.DateOf(at("2026-06-01 09:00"))) {
		got = append(got, fmt.Sprintf("%s %s %s %d %t", county.DateOf(tm.At), tm.Kind, tm.StepKind, tm.Step, tm.NotifyLeader))
		keys = append(keys, tm.Key)
	}
	want := []string{
		"2026-07-01 reminder  0 false",
		"2026-07-16 reminder  0 false",
		"2026-07-28 reminder  0 false",
		"2026-08-01 overdue  0 false",
		"2026-08-01 escalation duban-notice 1 false",
		"2026-08-08 escalation interview 2 true",
		"2026-08-16 escalation circular 3 true",
		"2026-08-31 escalation listed 4 true",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("plan:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Keys are stored with the timers (a fired one is never planned again
	// by its key): their form must not change.
	wantKeys := []string{
		"handling|2026-07-31|reminder|0|2026-07-01",
		"handling|2026-07-31|reminder|0|2026-07-16",
		"handling|2026-07-31|reminder|0|2026-07-28",
		"handling|2026-07-31|overdue|0|2026-08-01",
		"handling|2026-07-31|escalation|1|2026-08-01",
		"handling|2026-07-31|escalation|2|2026-08-08",
		"handling|2026-07-31|escalation|3|2026-08-16",
		"handling|2026-07-31|escalation|4|2026-08-31",
	}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("timer keys:\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(wantKeys, "\n"))
	}
	// Planning later leaves out reminders already past, never the breach.
	late := Plan(c, cfg, county.DateOf(at("2026-07-20 09:00")))
	if len(late) != 6 || late[0].Kind != TimerReminder || county.DateOf(late[0].At).String() != "2026-07-28" {
		t.Fatalf("plan from 07-20: %+v", late)
	}
	// Imported cases get no reminders or escalation.
	c.Imported = true
	if p := Plan(c, cfg, county.DateOf(at("2026-06-01 09:00"))); len(p) != 0 {
		t.Fatalf("imported plan %+v", p)
	}
}

func TestAllowedActionsAndIllegalTransitions(t *testing.T) {
	cfg := anji(t)
	c := assignedCase(t, cfg, "2026-03-02 09:00", eventsv1.Category_CATEGORY_COMPLAINT)
	for _, tc := range []struct {
		state State
		want  []Action
	}{
		{StateAssigned, []Action{ActAcknowledge, ActObject, ActDecline, ActWithdraw, ActFlag}},
		{StateAcknowledged, []Action{ActAccept, ActWithdraw, ActFlag}},
		{StateAccepted, []Action{ActExtend, ActReply, ActMediate, ActWithdraw, ActFlag}},
		{StateExtended, []Action{ActReply, ActMediate, ActWithdraw, ActFlag}},
		{StateReplied, []Action{ActServe, ActReturn, ActWithdraw, ActFlag}},
		{StateServed, []Action{ActEvaluate, ActRequestReview, ActReturn, ActWithdraw, ActFlag}},
		{StateEvaluated, []Action{ActRequestReview, ActReturn, ActWithdraw, ActFlag}},
		{StateReviewRequested, []Action{ActDecideReview, ActWithdraw, ActFlag}},
		{StateReviewDecided, []Action{ActRequestReReview, ActWithdraw, ActFlag}},
		{StateReReviewRequested, []Action{ActHearing, ActDecideReReview, ActWithdraw, ActFlag}},
		// With routing after an objection: no withdrawal until re-assigned.
		{StateObjected, []Action{ActFlag}},
		{StateFinal, nil},
		{StateClosed, nil},
	} {
		x := c.Clone()
		x.State = tc.state
		if got := Allowed(x); !slices.Equal(got, tc.want) {
			t.Errorf("%s allows %v, want %v", tc.state, got, tc.want)
		}
	}
	_, err := Act(c, Command{Action: ActReply, Outcome: "supported", Opinion: "x"}, env(cfg, "2026-03-03 09:00"))
	ae, ok := err.(*apierror.Error)
	if !ok || ae.Kind != apierror.IllegalTransition || ae.Details["state"] != "assigned" ||
		!slices.Equal(ae.Details["allowed"].([]string), []string{"acknowledge", "object", "decline", "withdraw", "flag"}) {
		t.Fatalf("reply on an assigned case: %#v", err)
	}
	if !strings.Contains(ae.Message, "case k1 is assigned: reply is not allowed; allowed: acknowledge, object, decline, withdraw, flag") {
		t.Fatalf("message %q", ae.Message)
	}
	// A refused action leaves the case as it was.
	if c.State != StateAssigned || len(c.Clocks) != 2 {
		t.Fatalf("refused action changed the case: %+v", c)
	}
	// Every transition carries actor, time and reason.
	actor := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_DEPARTMENT, Id: "u1", Department: "rsj"}
	res, err := Act(c, Command{Action: ActAcknowledge, Actor: actor}, env(cfg, "2026-03-03 09:00"))
	if err != nil {
		t.Fatal(err)
	}
	ev := res.Events[0]
	if ev.Actor != actor || ev.Reason != "受理告知" || !ev.OccurredAt.AsTime().Equal(at("2026-03-03 09:00")) || ev.CaseId != "k1" || ev.County != "anji" || ev.TypeName() != "case.acknowledged" {
		t.Fatalf("event %v", ev)
	}
}

func TestAccusationIsInvisibleToTheAccused(t *testing.T) {
	c := &Case{ID: "a", Category: county.CategoryAccusation, Department: "jwjw", CoDepartments: []string{"zjj"}, HiddenFrom: []string{"zjj"}}
	if c.VisibleTo("zjj") || !c.VisibleTo("jwjw") {
		t.Fatalf("visibility %v", c.Visibility())
	}
	c.Category = county.CategoryComplaint
	if !c.VisibleTo("zjj") {
		t.Fatal("a co-department of a complaint does not see it")
	}
}

// timerKey writes what fmt wrote before it ("%s|%s|%s|%d|%s"), for any
// clock, kind, step and dates: stored keys must keep matching.
func TestTimerKeyKeepsItsStoredForm(t *testing.T) {
	days := []string{"2026-01-01 00:00", "2026-12-31 23:59", "2031-02-28 12:00"}
	for _, clk := range []ClockKind{ClockHandling, ClockEvaluation, ClockReviewRequest} {
		for _, kind := range []TimerKind{TimerReminder, TimerOverdue, TimerEscalation, TimerLapse} {
			for _, st := range []int{0, 1, 9, 10, 123} {
				for _, due := range days {
					for _, fire := range days {
						tm := Timer{Clock: clk, Kind: kind, Step: st, Due: county.DateOf(at(due)), At: at(fire)}
						want := fmt.Sprintf("%s|%s|%s|%d|%s", tm.Clock, tm.Due, tm.Kind, tm.Step, county.DateOf(tm.At))
						if got := timerKey(&tm); got != want {
							t.Fatalf("timerKey %q, want %q", got, want)
						}
					}
				}
			}
		}
	}
}
