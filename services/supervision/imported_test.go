package supervision

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/supervision/casemachine"
)

func TestImportedHistoryFromTheCasesStream(t *testing.T) {
	each(t, testImportedHistoryFromTheCasesStream)
}

// Intake's onboarding import puts a case's history on the routing and cases
// streams, which are not ordered with one another. Supervision follows it:
// history that arrives before the routing decision waits and is replayed;
// nothing is published again; its own live events on the cases stream are
// ignored.
func testImportedHistoryFromTheCasesStream(t *testing.T, h *harness) {
	h.set("2026-03-10 09:00")
	importer := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_IMPORTER, Id: "importer"}
	mk := func(when string, p proto.Message) *eventsv1.Envelope {
		e := routingEnvelope("hist", at(when), p)
		e.Imported, e.Actor = true, importer
		return e
	}
	apply := func(e *eventsv1.Envelope) {
		t.Helper()
		if err := h.svc.ApplyRouting(context.Background(), e); err != nil {
			t.Fatalf("apply %s: %v", e.TypeName(), err)
		}
	}
	ackEv := mk("2025-11-05 10:00", &eventsv1.CaseAcknowledged{Department: "rsj", NotifiedOn: "2025-11-05"})
	acceptEv := mk("2025-11-06 10:00", &eventsv1.CaseAccepted{Department: "rsj"})
	replyEv := mk("2025-12-01 10:00", &eventsv1.CaseReplied{Department: "rsj", Outcome: eventsv1.ReplyOutcome_REPLY_OUTCOME_SUPPORTED, Opinion: "已支付"})

	apply(acceptEv) // out of order and before the routing decision: parked
	apply(ackEv)
	if _, err := h.svc.Get(as(supervisor), "hist"); err == nil {
		t.Fatal("a case exists before its routing decision")
	}
	apply(assigned("hist", "rsj", at("2025-11-03 09:00"), imported()))
	if v := h.get("hist"); v.State != casemachine.StateAccepted {
		t.Fatalf("after the routing decision and the parked history: %s", v.State)
	}
	apply(replyEv)
	apply(replyEv) // redelivered
	if v := h.get("hist"); v.State != casemachine.StateReplied || !v.Imported {
		t.Fatalf("after the reply: %s imported=%v", v.State, v.Imported)
	}
	envs, _ := outboxEnvelopes(t, h.db, 0)
	for _, e := range envs {
		if e.CaseId == "hist" {
			t.Errorf("imported history published again: %s", describe(e))
		}
	}
	// A live event on the cases stream is supervision's own: ignored.
	live := routingEnvelope("hist", at("2026-03-10 09:00"), &eventsv1.CaseServed{ServedOn: "2026-03-10"})
	apply(live)
	if v := h.get("hist"); v.State != casemachine.StateReplied {
		t.Fatalf("a live cases-stream event changed the case: %s", v.State)
	}
	var parked int
	if err := h.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_parked`).Scan(&parked); err != nil || parked != 0 {
		t.Fatalf("%d events still parked (%v)", parked, err)
	}
}

// Imported history may hold the new endings too: a department's 不予受理, a
// withdrawal (case.closed WITHDRAWN), a re-review hearing. The machine
// follows each as for a live action and publishes nothing.
func TestImportedDeclineWithdrawalAndHearing(t *testing.T) {
	each(t, testImportedDeclineWithdrawalAndHearing)
}

func testImportedDeclineWithdrawalAndHearing(t *testing.T, h *harness) {
	h.set("2026-03-10 09:00")
	importer := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_IMPORTER, Id: "importer"}
	apply := func(id, when string, p proto.Message) {
		t.Helper()
		e := routingEnvelope(id, at(when), p)
		e.Imported, e.Actor, e.Reason = true, importer, "历史记录"
		if err := h.svc.ApplyRouting(context.Background(), e); err != nil {
			t.Fatalf("apply %s: %v", e.TypeName(), err)
		}
	}
	for _, id := range []string{"i1", "i2", "i3"} {
		if err := h.svc.ApplyRouting(context.Background(), assigned(id, "rsj", at("2025-11-03 09:00"), imported())); err != nil {
			t.Fatal(err)
		}
	}
	apply("i1", "2025-11-05 10:00", &eventsv1.CaseDeclined{Department: "rsj", Reason: eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE,
		Article: "19", NotifiedOn: "2025-11-05"})
	apply("i1", "2025-11-05 10:00", &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT})
	if v := h.get("i1"); v.State != casemachine.StateClosed || v.CloseReason != casemachine.CloseDeclined {
		t.Fatalf("imported decline: %s %s", v.State, v.CloseReason)
	}
	apply("i2", "2025-11-05 10:00", &eventsv1.CaseAcknowledged{Department: "rsj"})
	apply("i2", "2025-11-20 10:00", &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_WITHDRAWN})
	if v := h.get("i2"); v.State != casemachine.StateClosed || v.CloseReason != casemachine.CloseWithdrawn {
		t.Fatalf("imported withdrawal: %s %s", v.State, v.CloseReason)
	}
	for _, e := range []struct {
		when string
		p    proto.Message
	}{
		{"2025-11-05 10:00", &eventsv1.CaseAcknowledged{Department: "rsj"}},
		{"2025-11-06 10:00", &eventsv1.CaseAccepted{Department: "rsj"}},
		{"2025-11-20 10:00", &eventsv1.CaseReplied{Outcome: eventsv1.ReplyOutcome_REPLY_OUTCOME_NOT_SUPPORTED, Opinion: "不予支持"}},
		{"2025-11-21 10:00", &eventsv1.CaseServed{Method: eventsv1.ServiceMethod_SERVICE_METHOD_POST}},
		{"2025-11-25 10:00", &eventsv1.CaseReviewRequested{ReviewingBody: "安吉县人民政府"}},
		{"2025-12-10 10:00", &eventsv1.CaseReviewDecided{Outcome: eventsv1.ReviewOutcome_REVIEW_OUTCOME_UPHELD, Opinion: "维持"}},
		{"2025-12-15 10:00", &eventsv1.CaseReReviewRequested{ReviewingBody: "湖州市人民政府"}},
		{"2025-12-22 18:00", &eventsv1.CaseHearingHeld{ReviewingBody: "湖州市人民政府", From: "2025-12-20", To: "2025-12-22", Days: 3}},
	} {
		apply("i3", e.when, e.p)
	}
	v := h.get("i3")
	if d := deadline(v, casemachine.ClockReReviewDecision); v.State != casemachine.StateReReviewRequested || d.PausedDays != 3 ||
		v.History[len(v.History)-1].Type != "case.hearing_held" || v.History[len(v.History)-1].Published {
		t.Fatalf("imported hearing: %s %+v", v.State, d)
	}
	h.expect() // imported history is not published again
}
