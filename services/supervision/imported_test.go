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
