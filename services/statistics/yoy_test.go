package statistics_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"xinfang.io/county"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// twoYears registers n petitions spread over January–March of year, of
// which the first groups have persons each, plus noise outside the period.
func twoYears(h *history, year, n, groups, persons int) {
	start := county.NewDate(year, 1, 1)
	for i := range n {
		p := petition{channel: "letter", category: "complaint", township: "dipu", persons: 1}
		if i < groups {
			p.persons = persons
		}
		h.reg(fmt.Sprintf("Y%d-%05d", year, i), start.AddDays(i%90).String(), p) // 1 Jan .. 31 Mar
	}
	// Outside the compared period: 1 April and 31 December of the year before.
	h.reg(fmt.Sprintf("Y%d-april", year), county.NewDate(year, 4, 1).String(), petition{channel: "web", persons: 9})
	h.reg(fmt.Sprintf("Y%d-dec", year), county.NewDate(year-1, 12, 31).String(), petition{channel: "web", persons: 9})
}

func TestYearOnYearChange(t *testing.T) {
	// 2026: 2,026 registrations, 26 of them 5 persons → 2,000 + 130 = 2,130 persons.
	// 2025: 2,230 registrations, 30 of them 4 persons → 2,200 + 120 = 2,320 persons.
	// 件次 (2026 − 2230) / 2230 = −9.1479…% → −9.15; 人次 (2130 − 2320) / 2320 = −8.1896…% → −8.19.
	h := &history{imported: true} // figures only: imported history raises no alerts, so applies faster
	twoYears(h, 2026, 2026, 26, 5)
	twoYears(h, 2025, 2230, 30, 4)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-11-21")
		applyBatches(t, svc, h.envs, 500)
		s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{From: "2026-01-01", To: "2026-03-31"}})
		if err != nil {
			t.Fatal(err)
		}
		if s.PreviousFrom != "2025-01-01" || s.PreviousTo != "2025-03-31" {
			t.Errorf("previous period %s..%s, want 2025-01-01..2025-03-31", s.PreviousFrom, s.PreviousTo)
		}
		check := func(id string, value, prev int64, change float64) {
			t.Helper()
			c := s.Counts[id]
			if c.Value != value || c.Previous != prev || c.ChangePercent == nil || *c.ChangePercent != change {
				t.Errorf("%s = %d vs %d, change %v; want %d vs %d, %v", id, c.Value, c.Previous, deref(c.ChangePercent), value, prev, change)
			}
		}
		check("registrations", 2026, 2230, -9.15)
		check("persons", 2130, 2320, -8.19)
		// Four persons is no group petition (Art. 20): no previous value, no change.
		if g := s.Counts["group"]; g.Value != 26 || g.Previous != 0 || g.ChangePercent != nil {
			t.Errorf("group = %d vs %d, change %v; want 26 vs 0, null", g.Value, g.Previous, deref(g.ChangePercent))
		}
		// The annual report of the running year compares 1 Jan – 21 Nov with
		// the same dates of 2025: each year adds its 1 April petition (9 persons).
		r, err := svc.Report(context.Background(), statistics.ReportQuery{Year: "2026", Format: "markdown"})
		if err != nil {
			t.Fatal(err)
		}
		md, err := statistics.RenderMarkdown(r)
		if err != nil {
			t.Fatal(err)
		}
		if want := "本年度共登记信访事项 2,027 件次、2,139 人次，上年同期 2,231 件次、2,329 人次，件次同比下降9.14%，人次同比下降8.16%"; !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
		// A period across a month boundary reads day rows at both ends.
		s, err = svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{From: "2026-01-15", To: "2026-03-10"}})
		if err != nil {
			t.Fatal(err)
		}
		// Registration i falls on day i mod 90; days 14..68 (1-based 15 Jan .. 10 Mar) are 55 days.
		want2026, want2025 := countDays(2026, 14, 68), countDays(2230, 14, 68)
		if c := s.Counts["registrations"]; c.Value != want2026 || c.Previous != want2025 {
			t.Errorf("15 Jan–10 Mar: %d vs %d, want %d vs %d", c.Value, c.Previous, want2026, want2025)
		}
	})
}

// countDays counts i in [0, n) with i mod 90 in [lo, hi].
func countDays(n, lo, hi int) int64 {
	var c int64
	for i := range n {
		if d := i % 90; d >= lo && d <= hi {
			c++
		}
	}
	return c
}

func TestBreakdownComparesEachKeyWithAYearEarlier(t *testing.T) {
	// The two years of TestYearOnYearChange: every registration is a letter
	// from dipu; 1 April and 31 December petitions (web) lie outside.
	h := &history{imported: true} // figures only: imported history raises no alerts, so applies faster
	twoYears(h, 2026, 2026, 26, 5)
	twoYears(h, 2025, 2230, 30, 4)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-11-21")
		applyBatches(t, svc, h.envs, 500)
		get := func(by string) map[string]statistics.BreakdownRow {
			t.Helper()
			b, err := svc.Breakdown(context.Background(), statistics.BreakdownQuery{By: by,
				PeriodQuery: statistics.PeriodQuery{From: "2026-01-01", To: "2026-03-31"}})
			if err != nil {
				t.Fatal(err)
			}
			if b.PreviousFrom != "2025-01-01" || b.PreviousTo != "2025-03-31" {
				t.Errorf("previous period %s..%s", b.PreviousFrom, b.PreviousTo)
			}
			out := map[string]statistics.BreakdownRow{}
			for _, r := range b.Rows {
				out[r.Key] = r
			}
			return out
		}
		check := func(what string, r statistics.BreakdownRow, id string, cur, prev int64, change *float64) {
			t.Helper()
			if r.Counts[id] != cur || r.Previous[id] != prev || !reflect.DeepEqual(r.ChangePercent[id], change) {
				t.Errorf("%s %s = %d vs %d (%v), want %d vs %d (%v)", what, id, r.Counts[id], r.Previous[id],
					deref(r.ChangePercent[id]), cur, prev, deref(change))
			}
		}
		letter := get("channel")["letter"]
		check("letter", letter, "registrations", 2026, 2230, f(-9.15))
		check("letter", letter, "persons", 2130, 2320, f(-8.19))
		check("letter", letter, "group", 26, 0, nil)
		if p := letter.Rates["firstTimeShare"]; p.Percent == nil || *p.Percent != 100 || p.PreviousPercent == nil || *p.PreviousPercent != 100 {
			t.Errorf("letter first-time share %v vs %v, want 100 vs 100", deref(p.Percent), deref(p.PreviousPercent))
		}
		check("web", get("channel")["web"], "registrations", 0, 0, nil)
		check("dipu", get("township")["dipu"], "registrations", 2026, 2230, f(-9.15))
		// Months compare with the same month a year earlier.
		months := get("month")
		jan26, jan25 := countDays(2026, 0, 30), countDays(2230, 0, 30)
		check("2026-01", months["2026-01"], "registrations", jan26, jan25, change(jan26, jan25))
		feb26, feb25 := countDays(2026, 31, 58), countDays(2230, 31, 58)
		check("2026-02", months["2026-02"], "registrations", feb26, feb25, change(feb26, feb25))
	})
}

// change is (cur − prev) / prev × 100 rounded to two decimals.
func change(cur, prev int64) *float64 {
	x := math.Round(float64(cur-prev)*100/float64(prev)*100) / 100
	return &x
}
