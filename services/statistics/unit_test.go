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

func TestPeriodKeysTileAPeriodWithTheFewestRows(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     []string
	}{
		{"2026-01-01", "2026-12-31", []string{"2026"}},
		{"2026-03-01", "2026-03-31", []string{"2026-03"}},
		{"2026-03-11", "2026-03-20", []string{"2026-03~2"}},
		{"2026-02-21", "2026-02-28", []string{"2026-02~3"}},
		{"2026-01-15", "2026-03-10", []string{"2026-01-15", "2026-01-16", "2026-01-17", "2026-01-18", "2026-01-19", "2026-01-20",
			"2026-01~3", "2026-02", "2026-03~1"}},
		{"2025-06-30", "2026-06-29", []string{"2025-06-30", "2025-Q3", "2025-Q4", "2026-Q1", "2026-04", "2026-05", "2026-06~1",
			"2026-06~2", "2026-06-21", "2026-06-22", "2026-06-23", "2026-06-24", "2026-06-25", "2026-06-26", "2026-06-27",
			"2026-06-28", "2026-06-29"}},
		{"2025-07-01", "2026-06-30", []string{"2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"}},
		{"2026-02-01", "2026-05-31", []string{"2026-02", "2026-03", "2026-04", "2026-05"}},
	} {
		if got := periodKeys(date(c.from), date(c.to)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s..%s: %v, want %v", c.from, c.to, got, c.want)
		}
	}
	// Every period of up to 366 days starting in 2024–2025 is tiled exactly
	// (each of its days once) by at most 30 keys.
	start := date("2024-01-01")
	worst := 0
	for i := 0; i < 731; i += 3 {
		from := start.AddDays(i)
		for n := 1; n <= 366; n += 7 {
			to := from.AddDays(n - 1)
			keys := periodKeys(from, to)
			worst = max(worst, len(keys))
			covered := 0
			for _, k := range keys {
				covered += keyDays(t, k)
			}
			if covered != n || len(keys) > 30 {
				t.Fatalf("%s..%s: %d keys covering %d of %d days: %v", from, to, len(keys), covered, n, keys)
			}
		}
	}
	t.Logf("at most %d keys", worst)
	// A level as of a day sums everything from the first year with data.
	if got, want := prefixKeys(2024, date("2026-05-12")), []string{"2024", "2025", "2026-Q1", "2026-04", "2026-05~1", "2026-05-11", "2026-05-12"}; !reflect.DeepEqual(got, want) {
		t.Errorf("prefix keys %v, want %v", got, want)
	}
}

// keyDays is the number of days a period key covers.
func keyDays(t *testing.T, k string) int {
	t.Helper()
	switch {
	case len(k) == 4:
		return date(k+"-12-31").Sub(date(k+"-01-01")) + 1
	case len(k) == 7 && k[5] == 'Q':
		d := date(k[:4] + "-" + map[byte]string{'1': "01", '2': "04", '3': "07", '4': "10"}[k[6]] + "-01")
		return quarterEnd(d).Sub(d) + 1
	case len(k) == 7:
		d := date(k + "-01")
		return monthEnd(d).Day()
	case len(k) == 9:
		d := date(k[:7] + "-01")
		switch k[8] {
		case '1', '2':
			return 10
		}
		return monthEnd(d).Day() - 20
	}
	return 1
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

func TestBacklogIntervalsFollowTheMilestones(t *testing.T) {
	// Registered 01-01 (routing due 01-11), routed 01-14 (3 days late),
	// acknowledgement due 01-24, acknowledged 01-20; accepted, handling due
	// 03-20, replied 05-01 (42 days late: crosses into 31–90 on 04-20).
	c := &caseState{Registered: true, ReceivedDay: "2026-01-01", RoutingDue: "2026-01-11"}
	c.setRoute(routeAssigned, "2026-01-14", "complaint")
	c.LeadDept, c.AckDue = "zjj", "2026-01-24"
	c.AckDay, c.AckDept, c.AcceptedDay, c.HandlingDue = "2026-01-20", "zjj", "2026-01-20", "2026-03-20"
	c.RepliedDay = "2026-05-01"
	want := []backlogInterval{
		{from: "2026-01-12", to: "2026-01-14", due: "2026-01-11", dept: ""},
		{from: "2026-03-21", to: "2026-05-01", due: "2026-03-20", dept: "zjj"},
	}
	if got := c.backlogIntervals(); !reflect.DeepEqual(got, want) {
		t.Fatalf("intervals %+v, want %+v", got, want)
	}
	levels := map[rowKey]int64{}
	for _, x := range c.contributions() {
		if x.m == mBacklog31 && x.row.Dim == dimTotal {
			levels[x.row] += x.v
		}
	}
	if want := map[rowKey]int64{{Day: "2026-04-20"}: 1, {Day: "2026-05-01"}: -1}; !reflect.DeepEqual(levels, want) {
		t.Errorf("31–90 bucket levels %v, want %v", levels, want)
	}
	// Re-routed after an objection: the days between the first decision
	// and the re-routing lay with a department the state no longer names.
	r := &caseState{Registered: true, ReceivedDay: "2026-01-01", RoutingDue: "2026-01-05"}
	r.setRoute(routeAssigned, "2026-01-02", "complaint")
	r.setRoute(routeAssigned, "2026-02-01", "complaint")
	r.LeadDept, r.AckDue = "gaj", "2026-02-10"
	if got, want := r.backlogIntervals(), []backlogInterval{{from: "2026-02-11", due: "2026-02-10", dept: "gaj"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("re-routed: %+v, want %+v", got, want)
	}
}

func TestSeenKeysAreExactAndCompact(t *testing.T) {
	c := &caseState{}
	ids := []string{"0190f5b2-7c1e-7a3b-9e4d-2f6a1b3c4d5e", "0190F5B2-7C1E-7A3B-9E4D-2F6A1B3C4D5E", "ev-00001", "ev-00001|x", ""}
	for _, id := range ids {
		k := seenKey(id)
		if strings.Contains(k, "|") {
			t.Fatalf("key %q of %q contains the separator", k, id)
		}
		if c.seen(k) {
			t.Errorf("%q seen before it was marked", id)
		}
		c.markSeen(k)
		if !c.seen(k) {
			t.Errorf("%q not seen after it was marked", id)
		}
	}
	if k := seenKey(ids[0]); len(k) != 22 {
		t.Errorf("a UUID's key is %d characters, want 22", len(k))
	}
	if seenKey(ids[0]) == seenKey(ids[1]) {
		t.Error("two different ids (case differs) share a key")
	}
	if c.seen(seenKey("ev-0000")) || c.seen(seenKey("v-00001")) {
		t.Error("a prefix or suffix of a seen id counts as seen")
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
