package supervision

import (
	"context"
	"slices"
	"strings"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/kafkatransport"
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
	h.expect("2026-05-13 closed WINDOW_LAPSED")
	v = h.get("c1")
	if v.State != casemachine.StateClosed || v.CloseReason != casemachine.CloseWindowLapsed || len(v.Actions) != 0 {
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
	if mine, err := h.svc.Get(as(rsj), "c2"); err != nil || !slices.Equal(mine.Actions, []casemachine.Action{"acknowledge", "object", "answer-supervision"}) {
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
	if ae.Details["state"] != "extended" || !slices.Equal(ae.Details["allowed"].([]string), []string{"reply", "mediate", "flag"}) {
		t.Fatalf("second extension: %v %v", ae.Message, ae.Details)
	}
	if !strings.Contains(ae.Message, "case c4 is extended: extend is not allowed; allowed: reply, mediate, flag") {
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
	if err != nil || v.State != casemachine.StateAccepted || !slices.Equal(v.Actions, []casemachine.Action{"extend", "reply", "mediate"}) || v.Reply != nil {
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
	h.expect("2026-05-10 closed WINDOW_LAPSED")
}

// reviewable brings a case to served and rated on 06-11, review window to
// 07-13 (07-11 is a Saturday).
func reviewable(t *testing.T, h *harness, id string) {
	t.Helper()
	rsj := dept("rsj")
	h.set("2026-06-01 09:00")
	h.assign(id, "rsj")
	h.act(rsj, id, ack)
	h.act(rsj, id, accept)
	h.set("2026-06-10 09:00")
	h.act(rsj, id, reply("not-supported"))
	h.set("2026-06-11 09:00")
	h.act(rsj, id, serve("in-person", ""))
	h.act(rsj, id, evaluate("bureau", "dissatisfied"))
	h.act(rsj, id, evaluate("handling-unit", "dissatisfied"))
	h.expect("2026-06-01 acknowledged rsj notified=2026-06-01", "2026-06-01 accepted rsj COMPLAINT due=2026-07-31",
		"2026-06-10 replied rsj NOT_SUPPORTED on=2026-06-10", "2026-06-11 served IN_PERSON on=2026-06-11 reviewDue=2026-07-13",
		"2026-06-11 evaluated BUREAU=DISSATISFIED xfj", "2026-06-11 evaluated HANDLING_UNIT=DISSATISFIED rsj")
	h.set("2026-06-20 09:00")
	h.act(rsj, id, request(casemachine.ActRequestReview, "安吉县人民政府"))
	h.expect("2026-06-20 review_requested 安吉县人民政府 within=true due=2026-07-20")
	h.advance("2026-07-06 00:00")
	h.expect("2026-07-05 supervision REMINDER REVIEW_DECISION 安吉县人民政府 due=2026-07-20 step=0 leader=false")
}

func TestLifecycleReviewUpheld(t *testing.T) { each(t, testLifecycleReviewUpheld) }

func testLifecycleReviewUpheld(t *testing.T, h *harness) {
	reviewable(t, h, "c6")
	h.set("2026-07-10 09:00")
	// The handling department is not the reviewing body.
	_, err := h.try(dept("rsj"), "c6", decide(casemachine.ActDecideReview, "upheld"))
	wantKind(t, err, apierror.Forbidden)
	h.act(supervisor, "c6", decide(casemachine.ActDecideReview, "upheld"))
	// 07-10 + 30 = 08-09, a Sunday: 08-10.
	h.expect("2026-07-10 review_decided 安吉县人民政府 UPHELD reReviewDue=2026-08-10")
	h.advance("2026-08-11 00:00")
	h.expect("2026-08-11 closed WINDOW_LAPSED")
}

func TestLifecycleReviewOverturnedThenReReviewWithHearingIsFinal(t *testing.T) {
	each(t, testLifecycleReviewOverturnedThenReReviewWithHearingIsFinal)
}

func testLifecycleReviewOverturnedThenReReviewWithHearingIsFinal(t *testing.T, h *harness) {
	rsj := dept("rsj")
	reviewable(t, h, "c7")
	h.set("2026-07-10 09:00")
	h.act(supervisor, "c7", decide(casemachine.ActDecideReview, "revoked"))
	h.expect("2026-07-10 review_decided 安吉县人民政府 REVOKED reReviewDue=2026-08-10")
	h.set("2026-07-20 09:00")
	h.act(rsj, "c7", request(casemachine.ActRequestReReview, "湖州市人民政府"))
	h.expect("2026-07-20 re_review_requested 湖州市人民政府 within=true due=2026-08-19")
	h.advance("2026-08-05 12:00")
	h.expect("2026-08-04 supervision REMINDER RE_REVIEW_DECISION 湖州市人民政府 due=2026-08-19 step=0 leader=false")

	// A five-day hearing is not counted (Art. 36): 30 + 5 days from 07-20.
	h.set("2026-08-05 18:00")
	_, err := h.try(supervisor, "c7", casemachine.Command{Action: casemachine.ActHearing, From: date("2026-08-05"), To: date("2026-08-01")})
	wantKind(t, err, apierror.Validation)
	h.act(supervisor, "c7", casemachine.Command{Action: casemachine.ActHearing, From: date("2026-08-01"), To: date("2026-08-05"), Reason: "组织听证"})
	h.expect() // a note in the history; the contract has no hearing event
	v := h.get("c7")
	if d := deadline(v, casemachine.ClockReReviewDecision); d.Due != date("2026-08-24") || d.PausedDays != 5 {
		t.Fatalf("re-review decision deadline %+v", d)
	}
	if last := v.History[len(v.History)-1]; last.Type != "note.hearing" || last.Published {
		t.Fatalf("last history entry %+v", last)
	}
	// The paused clock's breach (08-20) is called off; its reminders follow
	// the new due date: 50% is 08-06, 75% 08-15.
	h.advance("2026-08-20 00:00")
	h.expect(
		"2026-08-06 supervision REMINDER RE_REVIEW_DECISION 湖州市人民政府 due=2026-08-24 step=0 leader=false",
		"2026-08-15 supervision REMINDER RE_REVIEW_DECISION 湖州市人民政府 due=2026-08-24 step=0 leader=false",
	)
	h.set("2026-08-20 10:00")
	h.act(supervisor, "c7", decide(casemachine.ActDecideReReview, "upheld"))
	h.expect("2026-08-20 re_review_decided 湖州市人民政府 UPHELD hearingDays=5", "2026-08-20 final 36(3)")

	_, err = h.try(supervisor, "c7", casemachine.Command{Action: casemachine.ActFlag, Flag: "joint-meeting", Set: true})
	ae := wantKind(t, err, apierror.IllegalTransition)
	if ae.Details["state"] != "final" || len(ae.Details["allowed"].([]string)) != 0 {
		t.Fatalf("final case: %v", ae)
	}
	// Routing cannot re-open a final case: the event is refused for good.
	h.set("2026-09-01 09:00")
	err = h.svc.ApplyRouting(context.Background(), assigned("c7", "zjj", h.clock.Now(), attempt(2)))
	if !kafkatransport.IsPermanent(err) {
		t.Fatalf("re-routing a final case: %v, want a permanent error", err)
	}
	h.advance("2026-12-31 00:00")
	h.expect()
	if v := h.get("c7"); v.State != casemachine.StateFinal || v.ReReview.HearingDays != 5 {
		t.Fatalf("final: %+v", v)
	}
}

func TestObjectionWindowInWorkingDays(t *testing.T) { each(t, testObjectionWindowInWorkingDays) }

func testObjectionWindowInWorkingDays(t *testing.T, h *harness) {
	zjj := dept("zjj")

	// 02-05 (Thu): five working days end 02-12 (Thu), past a weekend.
	h.set("2026-02-05 09:00")
	h.assign("o1", "zjj")
	h.assign("o2", "zjj")
	h.set("2026-02-12 17:00")
	_, err := h.try(zjj, "o1", casemachine.Command{Action: casemachine.ActObject})
	wantKind(t, err, apierror.Validation)
	h.act(zjj, "o1", casemachine.Command{Action: casemachine.ActObject, Reason: "欠薪事项属人社部门职责"})
	h.expect("2026-02-12 objected zjj within=true")
	if v := h.get("o1"); v.State != casemachine.StateObjected || len(v.Actions) != 1 {
		t.Fatalf("objected: %s %v", v.State, v.Actions)
	}
	h.set("2026-02-13 09:00")
	h.act(zjj, "o2", casemachine.Command{Action: casemachine.ActObject, Reason: "不属本部门职责"})
	h.expect("2026-02-13 objected zjj within=false") // recorded, not honoured
	if v := h.get("o2"); v.State != casemachine.StateAssigned {
		t.Fatalf("late objection changed the state to %s", v.State)
	}

	// Routing re-routes the objected case: a new assignment, new clocks.
	h.svc.ApplyRouting(context.Background(), assigned("o1", "rsj", h.clock.Now(), attempt(2), excluded("zjj")))
	v := h.get("o1")
	if v.State != casemachine.StateAssigned || v.Department != "rsj" || v.Attempt != 2 ||
		deadline(v, casemachine.ClockAcknowledge).Due != date("2026-02-24") { // 02-23 is in 春节
		t.Fatalf("re-routed: %+v", v)
	}
	// An older attempt arriving late changes nothing.
	if err := h.svc.ApplyRouting(context.Background(), assigned("o1", "gaj", h.clock.Now(), attempt(1))); err != nil {
		t.Fatal(err)
	}
	if v := h.get("o1"); v.Department != "rsj" {
		t.Fatalf("stale attempt re-assigned the case to %s", v.Department)
	}
	if _, err := h.try(zjj, "o1", ack); err == nil {
		t.Fatal("the department that objected still acts on the case")
	}

	// 02-11 (Wed): 02-12, 02-13, the 调休 Saturday 02-14, then 春节 until
	// 02-23, then 02-24 and 02-25.
	h.set("2026-02-11 09:00")
	h.assign("o3", "zjj")
	if d := deadline(h.get("o3"), casemachine.ClockObjection); d.Due != date("2026-02-25") || d.Unit != "working-days" {
		t.Fatalf("objection window over 春节: %+v", d)
	}
	h.set("2026-02-25 16:00")
	h.act(zjj, "o3", casemachine.Command{Action: casemachine.ActObject, Reason: "不属本部门职责"})
	h.expect("2026-02-25 objected zjj within=true")
}

func TestRoutedOutClosesTheCase(t *testing.T) { each(t, testRoutedOutClosesTheCase) }

func testRoutedOutClosesTheCase(t *testing.T, h *harness) {
	ctx := context.Background()
	h.set("2026-03-02 09:00")
	div := routingEnvelope("r1", h.clock.Now(), &eventsv1.CaseDiverted{Category: eventsv1.Category_CATEGORY_COMPLAINT,
		LegalChannel: eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION, Body: "安吉县人民法院", RuleId: "litigation"})
	if err := h.svc.ApplyRouting(ctx, div); err != nil {
		t.Fatal(err)
	}
	h.expect("2026-03-02 closed ROUTED_OUT")
	envs, _ := outboxEnvelopes(t, h.db, 0)
	if envs[0].CausationId != div.EventId || !strings.Contains(envs[0].Reason, "安吉县人民法院") {
		t.Fatalf("closing event: causation %q reason %q", envs[0].CausationId, envs[0].Reason)
	}
	// Redelivery of the same event is a no-op (inbox).
	if err := h.svc.ApplyRouting(ctx, div); err != nil {
		t.Fatal(err)
	}
	h.expect()

	// An open case forwarded by a manual re-routing closes, its timers go.
	h.assign("r2", "zjj")
	if err := h.svc.ApplyRouting(ctx, routingEnvelope("r2", h.clock.Now(), &eventsv1.CaseForwarded{Destination: "湖州市信访局"})); err != nil {
		t.Fatal(err)
	}
	h.expect("2026-03-02 closed ROUTED_OUT")
	var n int
	if err := h.db.QueryRow(ctx, `SELECT COUNT(*) FROM supervision_timers WHERE case_id = 'r2'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("timers of a closed case: %d, %v", n, err)
	}
	// A manual re-routing to a department re-opens a routed-out case.
	h.set("2026-03-03 09:00")
	if err := h.svc.ApplyRouting(ctx, assigned("r1", "fy", h.clock.Now(), attempt(2))); err != nil {
		t.Fatal(err)
	}
	if v := h.get("r1"); v.State != casemachine.StateAssigned || v.Department != "fy" {
		t.Fatalf("re-opened: %s %s", v.State, v.Department)
	}
	if err := h.svc.ApplyRouting(ctx, routingEnvelope("r3", h.clock.Now(), &eventsv1.CaseNotAccepted{Reason: eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_FINAL, Article: "36(3)"})); err != nil {
		t.Fatal(err)
	}
	h.expect("2026-03-03 closed ROUTED_OUT")
}

func TestImportedHistoryRaisesNoRemindersAndAcceptsAt(t *testing.T) {
	each(t, testImportedHistoryRaisesNoRemindersAndAcceptsAt)
}

func testImportedHistoryRaisesNoRemindersAndAcceptsAt(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-03-10 09:00")
	// A normal case refuses an explicit time.
	h.assign("live", "rsj")
	_, err := h.try(rsj, "live", casemachine.Command{Action: casemachine.ActAcknowledge, At: at("2026-03-10 08:00")})
	if ae := wantKind(t, err, apierror.Validation); ae.Fields["at"] == "" {
		t.Fatalf("fields %v", ae.Fields)
	}

	h.assign("imp", "rsj", imported(), occurred(at("2025-11-03 09:00")))
	var n int
	if err := h.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_timers WHERE case_id = 'imp'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("an imported case has %d timers (%v)", n, err)
	}
	step := func(when string, c casemachine.Command) {
		t.Helper()
		c.At = at(when)
		h.act(rsj, "imp", c)
	}
	step("2025-11-05 10:00", ack)
	step("2025-11-06 10:00", accept)
	_, err = h.try(rsj, "imp", casemachine.Command{Action: casemachine.ActReply, Outcome: "supported", Opinion: "x", At: at("2025-11-01 10:00")})
	wantKind(t, err, apierror.Validation) // before the latest history entry
	step("2025-12-01 10:00", reply("supported"))
	step("2025-12-02 10:00", serve("post", "2025-12-02"))
	h.events() // the live case's events are not the point here
	// Timers that lapse windows run for imported cases too: they catch up at
	// once, dated when the windows ended. No reminder, no escalation.
	h.advance("2026-03-10 09:01")
	envs, _ := outboxEnvelopes(t, h.db, 0)
	var got []string
	for _, e := range envs {
		if e.CaseId != "imp" {
			continue
		}
		if !e.Imported {
			t.Errorf("%s is not marked imported", describe(e))
		}
		got = append(got, describe(e))
	}
	want := []string{
		"2025-11-05 acknowledged rsj notified=2025-11-05",
		"2025-11-06 accepted rsj COMPLAINT due=2026-01-05",
		"2025-12-01 replied rsj SUPPORTED on=2025-12-01",
		// 12-02 + 30 = 01-01, 元旦 to 01-03; 01-04 is a 调休 Sunday.
		"2025-12-02 served POST on=2025-12-02 reviewDue=2026-01-04",
		"2025-12-10 evaluated BUREAU=LAPSED xfj",
		"2025-12-10 evaluated HANDLING_UNIT=LAPSED rsj",
		"2026-01-05 closed WINDOW_LAPSED",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("imported case events:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	for _, e := range envs {
		if e.CaseId == "imp" && e.GetCaseAcknowledged() != nil && e.Actor.GetKind() != eventsv1.ActorKind_ACTOR_KIND_IMPORTER {
			t.Fatalf("imported acknowledgement actor %v", e.Actor)
		}
	}
}

func TestMediationFlagsAndSuggestionClock(t *testing.T) {
	each(t, testMediationFlagsAndSuggestionClock)
}

func testMediationFlagsAndSuggestionClock(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-03-02 09:00")
	h.assign("m1", "rsj", category(eventsv1.Category_CATEGORY_SUGGESTION))
	h.act(rsj, "m1", ack)
	h.act(rsj, "m1", accept)
	// Suggestions: the county's 30 days (03-02 + 30 = 04-01).
	h.expect("2026-03-02 acknowledged rsj notified=2026-03-02", "2026-03-02 accepted rsj SUGGESTION due=2026-04-01")

	_, err := h.try(rsj, "m1", casemachine.Command{Action: casemachine.ActFlag, Flag: "leader-owned", Set: true, Owner: "副县长"})
	wantKind(t, err, apierror.Forbidden)
	h.act(leader, "m1", casemachine.Command{Action: casemachine.ActFlag, Flag: "leader-owned", Set: true, Owner: "副县长"})
	_, err = h.try(supervisor, "m1", casemachine.Command{Action: casemachine.ActFlag, Flag: "leader-owned", Set: true, Owner: "县长"})
	wantKind(t, err, apierror.Conflict)
	h.act(supervisor, "m1", casemachine.Command{Action: casemachine.ActFlag, Flag: "joint-meeting", Set: true, Reason: "需多部门会商"})
	h.expect("2026-03-02 flagged LEADER_OWNED set=true owner=副县长", "2026-03-02 flagged JOINT_MEETING set=true owner=")

	h.set("2026-03-10 09:00")
	h.act(rsj, "m1", casemachine.Command{Action: casemachine.ActMediate, MediationKind: "mediation", Summary: "双方未达成一致"})
	h.act(rsj, "m1", casemachine.Command{Action: casemachine.ActMediate, MediationKind: "settlement", AgreementReached: true, Summary: "双方签订和解协议书"})
	h.expect("2026-03-10 mediated MEDIATION agreement=false", "2026-03-10 mediated SETTLEMENT agreement=true", "2026-03-10 closed MEDIATED")
	v := h.get("m1")
	if v.State != casemachine.StateClosed || v.CloseReason != "mediated" || !v.LeaderOwned || v.LeaderOwner != "副县长" {
		t.Fatalf("mediated: %+v", v)
	}
	h.advance("2026-06-01 00:00")
	h.expect()

	// A suggestion has no 复查 (Art. 35 is for 申诉求决).
	h.assign("m2", "rsj", category(eventsv1.Category_CATEGORY_SUGGESTION))
	h.act(rsj, "m2", ack)
	h.act(rsj, "m2", accept)
	h.act(rsj, "m2", reply("supported"))
	h.act(rsj, "m2", serve("post", ""))
	_, err = h.try(rsj, "m2", request(casemachine.ActRequestReview, "安吉县人民政府"))
	wantKind(t, err, apierror.IllegalTransition)
}

func TestLateReviewRequestIsRefused(t *testing.T) { each(t, testLateReviewRequestIsRefused) }

func testLateReviewRequestIsRefused(t *testing.T, h *harness) {
	rsj := dept("rsj")
	h.set("2026-06-01 09:00")
	h.assign("l1", "rsj")
	h.act(rsj, "l1", ack)
	h.act(rsj, "l1", accept)
	h.act(rsj, "l1", reply("supported"))
	h.act(rsj, "l1", serve("post", "2026-06-01"))
	// The window ends 07-01; the worker has not closed the case yet.
	h.set("2026-07-02 09:00")
	_, err := h.try(rsj, "l1", request(casemachine.ActRequestReview, "安吉县人民政府"))
	if ae := wantKind(t, err, apierror.IllegalTransition); !strings.Contains(ae.Message, "window ended on 2026-07-01") {
		t.Fatalf("%v", ae)
	}
	h.events()
	h.advance("2026-07-02 09:00")
	if v := h.get("l1"); v.State != casemachine.StateClosed {
		t.Fatalf("state %s", v.State)
	}
}
