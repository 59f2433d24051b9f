package statistics_test

import (
	"context"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// The events supervision added: a department's written decline, a due day
// moved earlier by a county rules change, a 复核 hearing that moves the
// decision due day.
//
//	P 03-01, zjj, acknowledgement due 03-17 moved to 03-12 on 03-05, acknowledged 03-14: late; 积案 on 03-13
//	Q 03-01, rsj, acknowledgement due 03-17, declined in writing 03-10 (on time), closed routed out: 不予受理, not 办结
//	R 01-05, jyj, replied; 复核 requested 04-20 due 05-20, hearing 05-01..05-05 moves it to 05-25,
//	  decided 05-23, final: never 积案 (without the hearing it would have been from 05-21)
func TestDeclineDeadlineChangeAndHearing(t *testing.T) {
	h := &history{}
	cp := petition{channel: "letter", category: "complaint", township: "dipu", persons: 1}
	h.reg("P", "2026-03-01", cp)
	h.assign("P", "2026-03-02", "transfer", "zjj", "2026-03-17")
	h.add("P", "2026-03-05", &eventsv1.CaseDeadlineChanged{Clock: eventsv1.Clock_CLOCK_ACKNOWLEDGE, Department: "zjj",
		PreviousDue: "2026-03-17", NewDue: "2026-03-12", RulesVersion: "r2"})
	h.ack("P", "2026-03-14", "zjj")

	h.reg("Q", "2026-03-01", cp)
	h.assign("Q", "2026-03-02", "transfer", "rsj", "2026-03-17")
	h.add("Q", "2026-03-10", &eventsv1.CaseDeclined{Department: "rsj", Reason: eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE,
		Article: "19", NotifiedOn: "2026-03-10"})
	h.closed("Q", "2026-03-10", "routed_out")

	h.reg("R", "2026-01-05", cp)
	h.assign("R", "2026-01-06", "transfer", "jyj", "2026-01-16")
	h.ack("R", "2026-01-10", "jyj")
	h.accept("R", "2026-01-10", "jyj", "2026-03-11")
	h.reply("R", "2026-03-01")
	h.serve("R", "2026-03-02")
	h.reviewReq("R", "2026-03-20", "2026-04-19")
	h.reviewDec("R", "2026-04-10", "upheld")
	h.reReviewReq("R", "2026-04-20", "2026-05-20")
	h.add("R", "2026-05-05", &eventsv1.CaseHearingHeld{ReviewingBody: "市政府", From: "2026-05-01", To: "2026-05-05", Days: 5, DecisionDue: "2026-05-25"})
	h.reReviewDec("R", "2026-05-23", "upheld")
	h.final("R", "2026-05-23")

	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-06-25")
		applyBatches(t, svc, h.envs, 7)
		get := func(asOf string) *statistics.Summary {
			t.Helper()
			s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period, AsOf: asOf})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		s := get("")
		for id, want := range map[string]int64{"registrations": 3, "transferred": 3, "notAccepted": 1, "concluded": 1, "reReviewDecided": 1} {
			if got := s.Counts[id].Value; got != want {
				t.Errorf("%s = %d, want %d", id, got, want)
			}
		}
		if r := s.Rates["timelyAcknowledgement"]; r.Numerator != 2 || r.Denominator != 3 {
			t.Errorf("及时受理 %d/%d, want 2/3 (P late against its moved due day)", r.Numerator, r.Denominator)
		}
		for asOf, want := range map[string]int64{"2026-03-13": 1, "2026-03-15": 0, "2026-05-22": 0, "2026-05-24": 0} {
			if got := get(asOf).Backlog.Total; got != want {
				t.Errorf("积案 as of %s = %d, want %d", asOf, got, want)
			}
		}
		if b := get("2026-03-13").Backlog; len(b.ByDepartment) != 1 || b.ByDepartment[0].Key != "zjj" {
			t.Errorf("积案 on 03-13 by department %+v, want zjj", b.ByDepartment)
		}
	})
}
