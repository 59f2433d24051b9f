package supervision

import (
	"slices"
	"strings"
	"testing"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

// Dates below are worked out by hand on the Anji county file: acknowledge
// 10 days, objection 5 working days, handling 60 (suggestions 30), extension
// 30, review and re-review 30/30, evaluation 7; reminders at 50% and 75%
// elapsed and 3 days before; ladder 督办通知 +0, 约谈 +7, 通报 +15, 挂牌督办 +30
// days after the breach; the 2026 holiday notice (春节 02-15..23, 劳动节
// 05-01..05, 调休 workdays 01-04, 02-14, 02-28, 05-09, 09-20, 10-10).

// each runs a scenario on SQLite and on PostgreSQL.
func each(t *testing.T, f func(t *testing.T, h *harness)) {
	storetest.Each(t, func(t *testing.T, db *store.DB) { f(t, newHarness(t, db)) })
}

var (
	ack    = casemachine.Command{Action: casemachine.ActAcknowledge}
	accept = casemachine.Command{Action: casemachine.ActAccept}
)

func reply(outcome string) casemachine.Command {
	return casemachine.Command{Action: casemachine.ActReply, Outcome: outcome, Opinion: "经调查核实，依据相关规定作出如下处理意见。"}
}

func serve(method, on string) casemachine.Command {
	c := casemachine.Command{Action: casemachine.ActServe, Method: method}
	if on != "" {
		c.ServedOn = date(on)
	}
	return c
}

func evaluate(target, rating string) casemachine.Command {
	return casemachine.Command{Action: casemachine.ActEvaluate, Target: target, Rating: rating}
}

func request(a casemachine.Action, body string) casemachine.Command {
	return casemachine.Command{Action: a, ReviewingBody: body}
}

func decide(a casemachine.Action, outcome string) casemachine.Command {
	return casemachine.Command{Action: a, Outcome: outcome, Opinion: "经复查（复核），意见如下。"}
}

func TestLifecycleOnTime(t *testing.T) { each(t, testLifecycleOnTime) }

func testLifecycleOnTime(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-03-02 09:00")
	h.assign("c1", "rsj")
	h.expect() // routing's events are not republished
	v := h.get("c1")
	if v.State != casemachine.StateAssigned || deadline(v, casemachine.ClockAcknowledge).Due != date("2026-03-12") ||
		deadline(v, casemachine.ClockObjection).Due != date("2026-03-09") {
		t.Fatalf("after assignment: %+v", v)
	}

	h.set("2026-03-04 10:00")
	h.act(rsj, "c1", ack)
	h.expect("2026-03-04 acknowledged rsj notified=2026-03-04")
	h.set("2026-03-05 10:00")
	h.act(rsj, "c1", accept)
	// 03-05 + 60 = 05-04, inside 劳动节: the next working day is 05-06.
	h.expect("2026-03-05 accepted rsj COMPLAINT due=2026-05-06")

	// The acknowledgement reminders (03-07, 03-09) went with the clock.
	h.advance("2026-04-06 00:00")
	h.expect("2026-04-05 supervision REMINDER HANDLING rsj due=2026-05-06 step=0 leader=false")

	h.set("2026-04-10 15:00")
	h.act(rsj, "c1", reply("supported"))
	h.expect("2026-04-10 replied rsj SUPPORTED on=2026-04-10")
	h.set("2026-04-13 09:00")
	h.act(rsj, "c1", serve("post", "2026-04-12"))
	h.expect("2026-04-13 served POST on=2026-04-12 reviewDue=2026-05-12")
	h.set("2026-04-14 09:00")
	h.act(rsj, "c1", evaluate("bureau", "satisfied"))
	h.act(rsj, "c1", evaluate("handling-unit", "basically-satisfied"))
	h.expect("2026-04-14 evaluated BUREAU=SATISFIED xfj", "2026-04-14 evaluated HANDLING_UNIT=BASICALLY rsj")
	if v := h.get("c1"); v.State != casemachine.StateEvaluated || deadline(v, casemachine.ClockEvaluation).Status != "met" {
		t.Fatalf("after both ratings: state %s, evaluation %+v", v.State, deadline(v, casemachine.ClockEvaluation))
	}

	if n := h.advance("2026-05-12 23:59"); n != 0 {
		t.Fatalf("%d timers fired inside the review window", n)
	}
	h.expect()
	h.advance("2026-05-13 00:00")
	// Served, both ratings in, no review requested: it ran its course.
	h.expect("2026-05-13 closed COMPLETED")
	v = h.get("c1")
	if v.State != casemachine.StateClosed || v.CloseReason != casemachine.CloseCompleted || len(v.Actions) != 0 {
		t.Fatalf("closed case: state %s reason %s actions %v", v.State, v.CloseReason, v.Actions)
	}
	if d := deadline(v, casemachine.ClockHandling); d.Status != "met" || d.Late || d.Ended != date("2026-04-10") {
		t.Fatalf("handling deadline %+v", d)
	}
	// The history has every step, routing's decision first.
	var types []string
	for _, e := range v.History {
		types = append(types, e.Type)
	}
	want := []string{"case.assigned", "case.acknowledged", "case.accepted", "case.supervision_action", "case.replied",
		"case.served", "case.evaluated", "case.evaluated", "case.closed"}
	if !slices.Equal(types, want) {
		t.Fatalf("history %v, want %v", types, want)
	}
	_, err := h.try(rsj, "c1", reply("supported"))
	wantKind(t, err, apierror.IllegalTransition)
}

func TestLifecycleLateAcknowledgement(t *testing.T) { each(t, testLifecycleLateAcknowledgement) }

func testLifecycleLateAcknowledgement(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-02-05 09:00")
	h.assign("c2", "rsj")
	v := h.get("c2")
	// 02-05 + 10 = 02-15, inside 春节 (02-15..23): due on 02-24. The
	// objection window of 5 working days spans a weekend: 02-12.
	if got := deadline(v, casemachine.ClockAcknowledge).Due; got != date("2026-02-24") {
		t.Fatalf("acknowledge due %s", got)
	}
	if got := deadline(v, casemachine.ClockObjection).Due; got != date("2026-02-12") {
		t.Fatalf("objection due %s", got)
	}

	h.advance("2026-02-26 08:00")
	h.expect(
		"2026-02-14 supervision REMINDER ACKNOWLEDGE rsj due=2026-02-24 step=0 leader=false",
		"2026-02-19 supervision REMINDER ACKNOWLEDGE rsj due=2026-02-24 step=0 leader=false",
		"2026-02-21 supervision REMINDER ACKNOWLEDGE rsj due=2026-02-24 step=0 leader=false",
		"2026-02-25 supervision OVERDUE ACKNOWLEDGE rsj due=2026-02-24 step=0 leader=false",
		// Ten working days from 02-25 count the 调休 Saturday 02-28.
		"2026-02-25 supervision DUBAN_NOTICE ACKNOWLEDGE rsj due=2026-02-24 step=1 leader=false answerDue=2026-03-10",
	)
	v = h.get("c2")
	d := deadline(v, casemachine.ClockAcknowledge)
	if !v.Overdue || d.Status != "overdue" || d.DaysLeft == nil || *d.DaysLeft != -2 {
		t.Fatalf("overdue view: overdue=%t %+v", v.Overdue, d)
	}
	if len(v.Notices) != 1 || v.Notices[0].Kind != "duban-notice" || v.Notices[0].AnswerDue != date("2026-03-10") {
		t.Fatalf("notices %+v", v.Notices)
	}
	if mine, err := h.svc.Get(as(rsj), "c2"); err != nil || !slices.Equal(mine.Actions, []casemachine.Action{"acknowledge", "object", "decline", "withdraw", "answer-supervision"}) {
		t.Fatalf("rsj's actions on the supervised case: %v %v", mine.Actions, err)
	}

	h.set("2026-02-27 10:00")
	h.act(rsj, "c2", ack)
	h.expect("2026-02-27 acknowledged rsj notified=2026-02-27")
	h.act(rsj, "c2", casemachine.Command{Action: casemachine.ActAnswerSupervision, ActionEventID: v.Notices[0].EventID,
		Answer: "因春节假期衔接不畅致受理告知延误，已于2月27日告知信访人，并完善节假日值班制度。"})
	h.expect("2026-02-27 supervision_answered rsj")
	_, err := h.try(rsj, "c2", casemachine.Command{Action: casemachine.ActAnswerSupervision, ActionEventID: v.Notices[0].EventID, Answer: "again"})
	wantKind(t, err, apierror.IllegalTransition)

	// The rest of the ladder (约谈 03-04, 通报 03-12, 挂牌督办 03-27) was
	// called off by the acknowledgement.
	h.advance("2026-04-01 00:00")
	h.expect()
	v = h.get("c2")
	if d := deadline(v, casemachine.ClockAcknowledge); d.Status != "met" || !d.Late || v.Overdue {
		t.Fatalf("late acknowledgement: %+v overdue=%t", d, v.Overdue)
	}
}

func TestLifecycleBreachAndWholeLadder(t *testing.T) { each(t, testLifecycleBreachAndWholeLadder) }

func testLifecycleBreachAndWholeLadder(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-06-01 09:00")
	h.assign("c3", "rsj")
	h.act(rsj, "c3", ack)
	h.act(rsj, "c3", accept)
	h.expect("2026-06-01 acknowledged rsj notified=2026-06-01", "2026-06-01 accepted rsj COMPLAINT due=2026-07-31")

	h.advance("2026-09-01 00:00")
	h.expect(
		"2026-07-01 supervision REMINDER HANDLING rsj due=2026-07-31 step=0 leader=false",
		"2026-07-16 supervision REMINDER HANDLING rsj due=2026-07-31 step=0 leader=false",
		"2026-07-28 supervision REMINDER HANDLING rsj due=2026-07-31 step=0 leader=false",
		"2026-08-01 supervision OVERDUE HANDLING rsj due=2026-07-31 step=0 leader=false",
		"2026-08-01 supervision DUBAN_NOTICE HANDLING rsj due=2026-07-31 step=1 leader=false answerDue=2026-08-14",
		"2026-08-08 supervision INTERVIEW HANDLING rsj due=2026-07-31 step=2 leader=true",
		"2026-08-16 supervision CIRCULAR HANDLING rsj due=2026-07-31 step=3 leader=true",
		"2026-08-31 supervision LISTED HANDLING rsj due=2026-07-31 step=4 leader=true answerDue=2026-09-14",
	)
	v := h.get("c3")
	var interview string
	for _, e := range v.History {
		if strings.Contains(string(e.Payload), "SUPERVISION_ACTION_KIND_INTERVIEW") {
			interview = string(e.Payload)
		}
	}
	if !strings.Contains(interview, "【约谈】安吉县人力资源和社会保障局") || !strings.Contains(interview, "抄送安吉县人力资源和社会保障局局长") {
		t.Fatalf("interview message does not address the department and its leader: %s", interview)
	}
	if len(v.Notices) != 2 || v.Notices[0].Kind != "duban-notice" || v.Notices[1].Kind != "listed" {
		t.Fatalf("notices awaiting an answer: %+v", v.Notices)
	}
	overdue := true
	list, err := h.svc.List(as(supervisor), ListQuery{Overdue: &overdue})
	if err != nil || len(list.Cases) != 1 || list.Cases[0].CaseID != "c3" {
		t.Fatalf("overdue list = %+v, %v", list, err)
	}

	// The period is over: too late to extend.
	h.set("2026-09-02 09:00")
	_, err = h.try(rsj, "c3", casemachine.Command{Action: casemachine.ActExtend, Days: 10, Reason: "补充调查", PetitionerNotified: true})
	if ae := wantKind(t, err, apierror.IllegalTransition); !strings.Contains(ae.Message, "ended on 2026-07-31") {
		t.Fatalf("late extension refused with %q", ae.Message)
	}
	h.act(rsj, "c3", casemachine.Command{Action: casemachine.ActAnswerSupervision, ActionEventID: v.Notices[0].EventID, Answer: "已成立专班办理。"})
	h.act(rsj, "c3", reply("explained"))
	h.expect("2026-09-02 supervision_answered rsj", "2026-09-02 replied rsj EXPLAINED on=2026-09-02")
	v = h.get("c3")
	if d := deadline(v, casemachine.ClockHandling); !d.Late || v.Overdue {
		t.Fatalf("handling met late: %+v, overdue %t", d, v.Overdue)
	}
	if list, _ := h.svc.List(as(supervisor), ListQuery{Overdue: &overdue}); len(list.Cases) != 0 {
		t.Fatalf("replied case still listed overdue: %+v", list.Cases)
	}
}

func TestLifecycleExtension(t *testing.T) { each(t, testLifecycleExtension) }

func testLifecycleExtension(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-06-01 09:00")
	h.assign("c4", "rsj")
	h.set("2026-06-02 09:00")
	h.act(rsj, "c4", ack)
	h.set("2026-06-03 09:00")
	h.act(rsj, "c4", accept)
	// 06-03 + 60 = 08-02, a Sunday: 08-03.
	h.expect("2026-06-02 acknowledged rsj notified=2026-06-02", "2026-06-03 accepted rsj COMPLAINT due=2026-08-03")
	h.advance("2026-07-19 12:00")
	h.expect(
		"2026-07-03 supervision REMINDER HANDLING rsj due=2026-08-03 step=0 leader=false",
		"2026-07-18 supervision REMINDER HANDLING rsj due=2026-08-03 step=0 leader=false",
	)

	h.set("2026-07-20 09:00")
	for _, bad := range []struct {
		cmd   casemachine.Command
		field string
	}{
		{casemachine.Command{Action: casemachine.ActExtend, Days: 30, PetitionerNotified: true}, "reason"},
		{casemachine.Command{Action: casemachine.ActExtend, Days: 30, Reason: "现场核查"}, "petitionerNotified"},
		{casemachine.Command{Action: casemachine.ActExtend, Days: 31, Reason: "现场核查", PetitionerNotified: true}, "days"},
	} {
		_, err := h.try(rsj, "c4", bad.cmd)
		if ae := wantKind(t, err, apierror.Validation); ae.Fields[bad.field] == "" {
			t.Fatalf("%+v: fields %v, want %s", bad.cmd, ae.Fields, bad.field)
		}
	}
	h.act(rsj, "c4", casemachine.Command{Action: casemachine.ActExtend, Days: 30, Reason: "需会同住建部门现场核查", PetitionerNotified: true})
	// The whole period is 90 days from acceptance: 09-01.
	h.expect("2026-07-20 extended rsj days=30 due=2026-09-01 notified=true")
	_, err := h.try(rsj, "c4", casemachine.Command{Action: casemachine.ActExtend, Days: 5, Reason: "再延", PetitionerNotified: true})
	ae := wantKind(t, err, apierror.IllegalTransition)
	if ae.Details["state"] != "extended" || !slices.Equal(ae.Details["allowed"].([]string), []string{"reply", "mediate", "withdraw", "flag"}) {
		t.Fatalf("second extension: %v %v", ae.Message, ae.Details)
	}
	if !strings.Contains(ae.Message, "case c4 is extended: extend is not allowed; allowed: reply, mediate, withdraw, flag") {
		t.Fatalf("message %q", ae.Message)
	}

	// The old clock's 3-days-before reminder (07-31) and breach (08-04) are
	// gone; the extended clock's 75% (08-09) and 3-days-before (08-29) come;
	// its 50% (07-18) had passed when it was extended.
	h.advance("2026-08-30 00:00")
	h.expect(
		"2026-08-09 supervision REMINDER HANDLING rsj due=2026-09-01 step=0 leader=false",
		"2026-08-29 supervision REMINDER HANDLING rsj due=2026-09-01 step=0 leader=false",
	)
	h.set("2026-08-31 10:00")
	h.act(rsj, "c4", reply("supported"))
	h.expect("2026-08-31 replied rsj SUPPORTED on=2026-08-31")
	h.advance("2026-09-10 00:00")
	h.expect()
	if d := deadline(h.get("c4"), casemachine.ClockHandling); d.ExtendedDays != 30 || d.Due != date("2026-09-01") || d.Late {
		t.Fatalf("handling deadline %+v", d)
	}
}

func TestLifecycleReturnForRework(t *testing.T) { each(t, testLifecycleReturnForRework) }

func testLifecycleReturnForRework(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-03-02 09:00")
	h.assign("c5", "rsj")
	h.act(rsj, "c5", ack)
	h.act(rsj, "c5", accept)
	h.set("2026-03-20 10:00")
	h.act(rsj, "c5", reply("explained"))
	h.set("2026-03-21 10:00")
	h.act(rsj, "c5", serve("in-person", ""))
	h.expect("2026-03-02 acknowledged rsj notified=2026-03-02", "2026-03-02 accepted rsj COMPLAINT due=2026-05-06",
		"2026-03-20 replied rsj EXPLAINED on=2026-03-20", "2026-03-21 served IN_PERSON on=2026-03-21 reviewDue=2026-04-20")

	h.set("2026-03-23 10:00")
	_, err := h.try(rsj, "c5", casemachine.Command{Action: casemachine.ActReturn, Days: 20, Reason: "答复未回应诉求"})
	wantKind(t, err, apierror.Forbidden)
	_, err = h.try(supervisor, "c5", casemachine.Command{Action: casemachine.ActReturn, Days: 0, Reason: "答复未回应诉求"})
	wantKind(t, err, apierror.Validation)
	h.act(supervisor, "c5", casemachine.Command{Action: casemachine.ActReturn, Days: 20, Reason: "答复未回应诉求，退回重办"})
	// 03-23 + 20 = 04-12, a Sunday: 04-13.
	h.expect("2026-03-23 returned rsj due=2026-04-13")
	v, err := h.svc.Get(as(rsj), "c5")
	if err != nil || v.State != casemachine.StateAccepted || !slices.Equal(v.Actions, []casemachine.Action{"extend", "reply", "mediate", "withdraw"}) || v.Reply != nil {
		t.Fatalf("returned case as rsj sees it: %+v, %v", v, err)
	}

	// The evaluation lapse (03-31) and review lapse (04-21) of the first
	// service are gone; the new handling clock reminds at 04-02 and 04-07.
	h.advance("2026-04-08 12:00")
	h.expect(
		"2026-04-02 supervision REMINDER HANDLING rsj due=2026-04-13 step=0 leader=false",
		"2026-04-07 supervision REMINDER HANDLING rsj due=2026-04-13 step=0 leader=false",
	)
	h.set("2026-04-08 14:00")
	h.act(rsj, "c5", reply("supported"))
	h.set("2026-04-09 09:00")
	h.act(rsj, "c5", serve("electronic", ""))
	// 04-09 + 30 = 05-09, a Saturday but a 调休 working day: it stays.
	h.expect("2026-04-08 replied rsj SUPPORTED on=2026-04-08", "2026-04-09 served ELECTRONIC on=2026-04-09 reviewDue=2026-05-09")
	// No rating within 7 days (04-16): 超期未评价 for both.
	h.advance("2026-04-17 00:00")
	h.expect("2026-04-17 evaluated BUREAU=LAPSED xfj", "2026-04-17 evaluated HANDLING_UNIT=LAPSED rsj")
	if v := h.get("c5"); v.State != casemachine.StateEvaluated || v.Ratings["bureau"] != "lapsed" {
		t.Fatalf("after the evaluation window: %s %v", v.State, v.Ratings)
	}
	h.advance("2026-05-10 00:00")
	h.expect("2026-05-10 closed COMPLETED")
}
