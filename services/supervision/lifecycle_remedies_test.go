package supervision

import (
	"context"
	"slices"
	"strings"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/supervision/casemachine"
)

// Review, re-review, objections, routed-out cases, imported history,
// mediation: the paths after (or beside) the handling clock.

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
	h.expect("2026-08-05 hearing_held 湖州市人民政府 2026-08-01..2026-08-05 days=5 decisionDue=2026-08-24")
	v := h.get("c7")
	if d := deadline(v, casemachine.ClockReReviewDecision); d.Due != date("2026-08-24") || d.PausedDays != 5 {
		t.Fatalf("re-review decision deadline %+v", d)
	}
	if last := v.History[len(v.History)-1]; last.Type != "case.hearing_held" || !last.Published || last.Reason != "组织听证" {
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
		// Served, evaluated (lapsed), no review: it ran its course.
		"2026-01-05 closed COMPLETED",
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
