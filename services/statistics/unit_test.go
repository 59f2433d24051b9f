package statistics

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"xinfang.io/county"
)

func date(s string) county.Date {
	d, err := county.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestSegmentsReadWholeMonthsAndPartialEnds(t *testing.T) {
	for _, c := range []struct {
		from, to   string
		fromM, toM string
		days       [][2]string
	}{
		{"2026-01-01", "2026-12-31", "2026-01", "2026-12", nil},
		{"2026-01-15", "2026-03-10", "2026-02", "2026-02", [][2]string{{"2026-01-15", "2026-01-31"}, {"2026-03-01", "2026-03-10"}}},
		{"2026-03-02", "2026-03-30", "", "", [][2]string{{"2026-03-02", "2026-03-30"}}},
		{"2026-03-01", "2026-03-31", "2026-03", "2026-03", nil},
		{"2026-03-01", "2026-04-15", "2026-03", "2026-03", [][2]string{{"2026-04-01", "2026-04-15"}}},
		{"2026-02-10", "2026-03-31", "2026-03", "2026-03", [][2]string{{"2026-02-10", "2026-02-28"}}},
		{"2026-02-10", "2026-03-05", "", "", [][2]string{{"2026-02-10", "2026-02-28"}, {"2026-03-01", "2026-03-05"}}},
		{"2025-06-30", "2026-06-29", "2025-07", "2026-05", [][2]string{{"2025-06-30", "2025-06-30"}, {"2026-06-01", "2026-06-29"}}},
	} {
		p := segments(date(c.from), date(c.to))
		if p.fromMonth != c.fromM || p.toMonth != c.toM || !reflect.DeepEqual(p.days, c.days) {
			t.Errorf("%s..%s: months %q..%q days %v; want %q..%q %v", c.from, c.to, p.fromMonth, p.toMonth, p.days, c.fromM, c.toM, c.days)
		}
		if len(p.days) > 2 {
			t.Errorf("%s..%s: %d day ranges", c.from, c.to, len(p.days))
		}
	}
}

func TestChangeAndRounding(t *testing.T) {
	if c := change(2026, 2230); c == nil || *c != -9.15 {
		t.Errorf("2,026 vs 2,230 = %v, want -9.15", c)
	}
	if c := change(5, 0); c != nil {
		t.Errorf("change against 0 = %v, want nil", *c)
	}
	if p := percent(2, 3); p == nil || *p != 66.67 {
		t.Errorf("2/3 = %v", p)
	}
	if p := percent(1, 0); p != nil {
		t.Errorf("1/0 = %v, want nil", *p)
	}
	if got := yearEarlier(date("2028-02-29")); got != date("2027-02-28") {
		t.Errorf("a year before 2028-02-29 = %s", got)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 2026: "2,026", 1234567: "1,234,567", -2230: "-2,230"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
	if got := yoyText(change(2026, 2230)); got != "同比下降9.15%" {
		t.Errorf("yoyText = %q", got)
	}
}

func TestPendingDueFollowsTheObligation(t *testing.T) {
	c := &caseState{Registered: true, RoutingDue: "2026-01-11"}
	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, "2026-01-11"},
		{func() { c.RouteKind, c.LeadDept, c.AckDue = routeAssigned, "zjj", "2026-01-15" }, "2026-01-15"},
		{func() { c.AckDay, c.AckDept = "2026-01-10", "rsj" }, "2026-01-15"}, // another department's notice
		{func() { c.AckDept = "zjj" }, ""},
		{func() { c.HandlingDue = "2026-03-11" }, "2026-03-11"},
		{func() { c.RepliedDay = "2026-03-01" }, ""},
		{func() { c.ReviewDay, c.ReviewDue = "2026-04-01", "2026-05-01" }, "2026-05-01"},
		{func() { c.ReviewDecidedDay = "2026-04-20" }, ""},
		{func() { c.ReReviewDay, c.ReReviewDue = "2026-04-25", "2026-05-25" }, "2026-05-25"},
		{func() { c.FinalDay = "2026-05-20" }, ""},
	}
	for i, s := range steps {
		s.do()
		if got := c.pendingDue(); got != s.want {
			t.Errorf("step %d: pending due %q, want %q", i, got, s.want)
		}
	}
}

func TestDocsDefineEveryFigure(t *testing.T) {
	data, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, d := range countDefs {
		if !strings.Contains(doc, "| `"+d.ID+"` | "+d.Label+" |") {
			t.Errorf("docs/metrics.md does not define count %s (%s) in its table", d.ID, d.Label)
		}
	}
	for _, d := range rateDefs {
		if !strings.Contains(doc, "| `"+d.ID+"` | "+d.Label+" |") {
			t.Errorf("docs/metrics.md does not define rate %s (%s) in its table", d.ID, d.Label)
		}
	}
	for _, b := range ageBuckets {
		if !strings.Contains(doc, "`"+b.id+"`") {
			t.Errorf("docs/metrics.md does not name backlog bucket %s", b.id)
		}
	}
}
