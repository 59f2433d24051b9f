package routing

import (
	"context"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

func events(envs ...*eventsv1.Envelope) []Event {
	out := make([]Event, len(envs))
	for i, e := range envs {
		out[i] = Event{Context: context.Background(), Envelope: e}
	}
	return out
}

func count(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestServiceBatchIsOneTransaction: HandleEvents applies a run of events
// in order, each once, with what earlier ones wrote visible to later ones;
// and it is all or nothing, so the consumer can fall back to one event at a
// time when one of them is refused.
func TestServiceBatchIsOneTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		a := petition("AJ-1", pComplaint, "", "公司拖欠工资三个月")
		run := events(
			a, a, // the same event twice: applied once
			petition("AJ-1", pComplaint, "", "公司拖欠工资三个月"),                   // the case again: no second decision
			repeatOf(petition("AJ-2", pComplaint, "", "公司拖欠工资三个月"), "AJ-1"), // sees AJ-1 decided in this run
			envelope("AJ-1", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true}),
			envelope("AJ-1", &eventsv1.CaseAcknowledged{Department: "xfj"}), // not routing's
			petition("AJ-3", pComplaint, "", "小区电梯长期故障"),
		)
		if err := h.svc.HandleEvents(ctx, run); err != nil {
			t.Fatal(err)
		}
		out := h.emitted()
		if len(out) != 4 {
			t.Fatalf("%d events, want 4: %v", len(out), out)
		}
		if a1 := out[0].GetCaseAssigned(); out[0].CaseId != "AJ-1" || a1.GetLeadDepartment() != "rsj" || out[0].CausationId != a.EventId {
			t.Fatalf("AJ-1 %v", out[0])
		}
		if n := out[1].GetCaseNotAccepted(); out[1].CaseId != "AJ-2" || n.GetLinkedCaseId() != "AJ-1" {
			t.Fatalf("AJ-2 %v", out[1])
		}
		if r := out[2].GetCaseAssigned(); out[2].CaseId != "AJ-1" || r.GetAttempt() != 2 || r.GetLeadDepartment() != "xfj" {
			t.Fatalf("AJ-1 re-routed %v", out[2])
		}
		if out[3].CaseId != "AJ-3" || out[3].GetCaseAssigned().GetLeadDepartment() != "zjj" {
			t.Fatalf("AJ-3 %v", out[3])
		}
		// Redelivered (a crash before the offsets were committed): nothing.
		if err := h.svc.HandleEvents(ctx, run); err != nil {
			t.Fatal(err)
		}
		if out := h.emitted(); len(out) != 0 {
			t.Fatalf("redelivery emitted %v", out)
		}

		// One refused event refuses the run: nothing of it is kept.
		other := petition("AJ-9", pComplaint, "", "x")
		other.County = "changxing"
		good := petition("AJ-4", pComplaint, "", "小区电梯长期故障")
		cases, inbox := count(t, db, `SELECT COUNT(*) FROM routing_cases`), count(t, db, `SELECT COUNT(*) FROM inbox`)
		if err := h.svc.HandleEvents(ctx, events(good, other)); err == nil {
			t.Fatal("a run with another county's event was applied")
		}
		if out := h.emitted(); len(out) != 0 || count(t, db, `SELECT COUNT(*) FROM routing_cases`) != cases ||
			count(t, db, `SELECT COUNT(*) FROM inbox`) != inbox {
			t.Fatalf("a refused run left traces: %v", out)
		}
		// The consumer then applies its events one at a time.
		h.one(good)
	})
}

// TestServiceReadsPetitionsStoredAsProtoJSON: case rows written before
// petitions were stored as protobuf keep working (re-routing reads them).
func TestServiceReadsPetitionsStoredAsProtoJSON(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.one(petition("AJ-1", pComplaint, "", "公司拖欠工资三个月"))
		legacy := `{"channel":"CHANNEL_WEB","personCount":1,"township":"dipu","title":"来信","content":{"request":"公司拖欠工资三个月"},"categoryHint":"CATEGORY_COMPLAINT"}`
		if _, err := db.Exec(context.Background(), `UPDATE routing_cases SET petition = ? WHERE case_id = ?`, legacy, "AJ-1"); err != nil {
			t.Fatal(err)
		}
		a := h.one(envelope("AJ-1", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true})).GetCaseAssigned()
		if a.GetLeadDepartment() != "xfj" || a.GetAttempt() != 2 || a.GetOverrides()[0].GetRuleId() != "wages-social-insurance" {
			t.Fatalf("re-routed from a protojson row: %v", a)
		}
	})
}
