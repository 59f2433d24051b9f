package statistics_test

import (
	"context"
	"reflect"
	"testing"

	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

func TestBacklogAsOfAPastDay(t *testing.T) {
	// 积案 as it stood on past days of the hand-computed history (see
	// scenario), from the counters:
	//   01-19: B's acknowledgement was due 01-18 (given 01-20) → 1 day, gov-meixi;
	//          L2 waits for routing since 2025-02-11 → 180+, the bureau.
	//   04-18: C's handling due 04-17 → 1 day; O's due 03-14 → 35 days (zjj); L2.
	//   05-10: G's handling due 05-09 (replied 05-12) → 1 day (gaj); C 23 days,
	//          O 57 days (zjj); L2.
	//   06-25 (today): N 14 days (rsj), C 69, O 103 (zjj), L2 — as before.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-06-25")
		applyBatches(t, svc, scenario().envs, 25)
		for _, c := range []struct {
			asOf   string
			ageing []int64
			byDept map[string]int64
		}{
			{"2026-01-19", []int64{1, 0, 0, 1}, map[string]int64{"gov-meixi": 1, "": 1}},
			{"2026-04-18", []int64{1, 1, 0, 1}, map[string]int64{"zjj": 2, "": 1}},
			{"2026-05-10", []int64{2, 1, 0, 1}, map[string]int64{"zjj": 2, "gaj": 1, "": 1}},
			{"2026-06-25", []int64{1, 1, 1, 1}, map[string]int64{"zjj": 2, "rsj": 1, "": 1}},
			{"2024-12-31", []int64{0, 0, 0, 0}, map[string]int64{}},
		} {
			s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period, AsOf: c.asOf})
			if err != nil {
				t.Fatal(err)
			}
			b := s.Backlog
			var ageing []int64
			var sum int64
			for _, a := range b.Ageing {
				ageing = append(ageing, a.Count)
				sum += a.Count
			}
			byDept := map[string]int64{}
			for _, e := range b.ByDepartment {
				byDept[e.Key] = e.Value
			}
			if b.AsOf != c.asOf || !reflect.DeepEqual(ageing, c.ageing) || b.Total != sum || !reflect.DeepEqual(byDept, c.byDept) {
				t.Errorf("as of %s: %s total %d ageing %v by department %v; want ageing %v by department %v",
					c.asOf, b.AsOf, b.Total, ageing, byDept, c.ageing, c.byDept)
			}
		}
		// Without asOf, a past period's backlog is as of its last day.
		s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{From: "2026-01-01", To: "2026-04-18"}})
		if err != nil {
			t.Fatal(err)
		}
		if s.Backlog.AsOf != "2026-04-18" || s.Backlog.Total != 3 {
			t.Errorf("period to 04-18: backlog %d as of %s, want 3 as of 2026-04-18", s.Backlog.Total, s.Backlog.AsOf)
		}
	})
}

func TestDepartmentSummary(t *testing.T) {
	// 住建局 (zjj) handles O, A, C (after rsj's objection), J and M.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-06-25")
		applyBatches(t, svc, scenario().envs, 40)
		s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period, Department: "zjj"})
		if err != nil {
			t.Fatal(err)
		}
		if s.Department != "zjj" || s.DepartmentName != "安吉县住房和城乡建设局" {
			t.Errorf("department %q %q", s.Department, s.DepartmentName)
		}
		wantCounts := map[string]int64{
			"registrations": 5, "persons": 5, "firstTime": 5, "online": 1, // C is a web petition
			"transferred": 5, "duban": 1, "concluded": 2, "resolved": 1, // A J; A
			"mediated": 1, "reviewRequested": 1, "reviewDecided": 1, "reReviewRequested": 1, "reReviewDecided": 1, "reReviewUpheld": 1,
		}
		for _, d := range []string{"repeat", "group", "groupPersons", "assigned", "diverted", "forwarded", "notAccepted",
			"extended", "mediationAgreed", "reviewUpheld"} {
			wantCounts[d] = 0
		}
		for id, want := range wantCounts {
			if got := s.Counts[id]; got.Value != want || got.Previous != 0 {
				t.Errorf("zjj %s = %d (previous %d), want %d", id, got.Value, got.Previous, want)
			}
		}
		for id, want := range map[string][2]int64{
			"timelyAcknowledgement": {4, 4}, // O A C J (M due 06-28)
			"onTimeCompletion":      {2, 4}, // A J of O A C J
			"oneTimeResolution":     {1, 2}, // A of A J
			"resolution":            {1, 2},
			"bureauSatisfaction":    {1, 2}, // A of A J
			"unitSatisfaction":      {1, 1}, // A (J lapsed)
			"unitParticipation":     {1, 2},
			"leaderResolution":      {1, 1}, // A (J's flag cleared)
			"mediationSuccess":      {0, 1},
		} {
			if r := s.Rates[id]; r.Numerator != want[0] || r.Denominator != want[1] {
				t.Errorf("zjj %s = %d/%d, want %d/%d", id, r.Numerator, r.Denominator, want[0], want[1])
			}
		}
		wantAgeing := []int64{0, 1, 1, 0} // C 69 days, O 103 days
		for i, a := range s.Backlog.Ageing {
			if a.Count != wantAgeing[i] {
				t.Errorf("zjj backlog %s = %d, want %d", a.Bucket, a.Count, wantAgeing[i])
			}
		}
		if s.Backlog.Total != 2 || len(s.Backlog.ByDepartment) != 1 || s.Backlog.ByDepartment[0].Key != "zjj" {
			t.Errorf("zjj backlog %+v", s.Backlog)
		}
		if len(s.TopRespondents) != 0 || len(s.DivertedByChannel) != 0 {
			t.Errorf("county-only lists in a department summary: %+v %+v", s.TopRespondents, s.DivertedByChannel)
		}
		// A department's figures are the department breakdown's row.
		b, err := svc.Breakdown(context.Background(), statistics.BreakdownQuery{By: "department", PeriodQuery: period})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Rows {
			if r.Key != "zjj" {
				continue
			}
			for id, c := range s.Counts {
				if r.Counts[id] != c.Value {
					t.Errorf("breakdown zjj %s = %d, summary %d", id, r.Counts[id], c.Value)
				}
			}
			if r.Backlog == nil || *r.Backlog != 2 {
				t.Errorf("breakdown zjj backlog %v", r.Backlog)
			}
		}
	})
}
