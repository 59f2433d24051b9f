package statistics_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// The hand-computed history. Period 2026-01-01..2026-06-30, today
// 2026-06-25 (due-day figures count due days up to today). Every case is
// 申诉求决 unless said otherwise; "on time" compares with the due day.
//
//	O  01-02 letter dipu 1p. assigned zjj (转送) ack due 01-13, acked 01-13 ✓; accepted, handling due 03-14; never replied → 积案 103 days (91–180)
//	A  01-05 letter dipu 1p resp zjj. zjj ack due 01-15 acked 01-10 ✓; due 03-11 replied 03-01 ✓; bureau 满意, unit 基本满意;
//	         leader-owned; closed 04-05 → 办结, 化解, 一次性化解
//	B  01-08 visit meixi 6p (group) resp gov-meixi. 交办 gov-meixi ack due 01-18 acked 01-20 ✗; due 03-20 extended to 04-19,
//	         replied 04-10 ✓ (only thanks to the extension); bureau 满意, unit 不满意; 复查 04-20 → 维持 05-15; leader-owned;
//	         closed 06-15 → 办结, not 化解, not 一次性 (review)
//	C  02-01 web dipu 1p resp zjj. assigned rsj (ack due 02-12), rsj objects, re-assigned zjj ack due 02-16, acked by zjj 02-16 ✓;
//	         due 04-17 never replied ✗ → 积案 69 days (31–90); OVERDUE + 督办通知 on 04-18
//	D  05-10 phone dipu 1p repeat of C; not accepted, closed routed out → repeat, 不予受理, not 办结
//	E  02-10 letter tianzihu 2p; diverted (litigation), closed routed out
//	F  03-01 letter dipu 1p 建议意见; forwarded, closed routed out
//	G  03-05 web tianzihu 1p resp gaj. gaj ack due 03-15 acked 03-10 ✓; due 05-09 replied 05-12 ✗; bureau 基本满意, unit 满意;
//	         closed 06-13 → 办结, 化解; H repeats it on 06-24 → not 一次性化解
//	H  06-24 web dipu 1p repeat of G; assigned gaj ack due 06-25 (a repeat: not in 及时受理)
//	I  02-20 letter dipu 3p, IMPORTED. jyj ack due 03-02 acked 03-01 ✓; due 05-01; mediation agreement 03-20, closed (mediated)
//	         → handled ✓ by conclusion, 办结, 化解, 一次性化解
//	J  03-10 letter dipu 1p. zjj ack due 03-20 acked 03-15 ✓; due 05-19 replied 04-01 ✓; mediation without agreement 03-25;
//	         bureau 不满意, unit lapsed; 复查 04-20 → 撤销 05-10; 复核 05-15 → 维持 06-10; final 06-10; leader flag set then cleared
//	K  06-25 web xiaofeng 1p 检举控告. jwjw ack due 07-05 (after the period)
//	M  06-15 letter dipu 1p. zjj ack due 06-28 (after today: not yet counted), acked 06-20
//	N  06-01 letter dipu 1p. rsj ack due 06-11, never acked ✗ → 积案 14 days (1–30)
//	L1 2025-03-01 letter 2p, forwarded (previous year)
//	L2 2025-02-01 web 1p, never routed → 积案 since routing due 2025-02-11 (>180)
func scenario() *history {
	h := &history{}
	cp := func(channel, township string, persons int) petition {
		return petition{channel: channel, category: "complaint", township: township, persons: persons}
	}
	// previous year
	h.reg("L1", "2025-03-01", cp("letter", "dipu", 2))
	h.forwarded("L1", "2025-03-02")
	h.closed("L1", "2025-03-02", "routed_out")
	h.reg("L2", "2025-02-01", cp("web", "dipu", 1))

	h.reg("O", "2026-01-02", cp("letter", "dipu", 1))
	h.assign("O", "2026-01-03", "transfer", "zjj", "2026-01-13")
	h.ack("O", "2026-01-13", "zjj")
	h.accept("O", "2026-01-13", "zjj", "2026-03-14")

	a := cp("letter", "dipu", 1)
	a.respondent = "zjj"
	h.reg("A", "2026-01-05", a)
	h.assign("A", "2026-01-06", "transfer", "zjj", "2026-01-15")
	h.ack("A", "2026-01-10", "zjj")
	h.accept("A", "2026-01-10", "zjj", "2026-03-11")
	h.leader("A", "2026-01-11", true)
	h.reply("A", "2026-03-01")
	h.serve("A", "2026-03-02")
	h.evalBureau("A", "2026-03-05", "satisfied")
	h.evalUnit("A", "2026-03-05", "basically", "zjj")
	h.closed("A", "2026-04-05", "window_lapsed")

	b := cp("visit", "meixi", 6)
	b.respondent = "gov-meixi"
	h.reg("B", "2026-01-08", b)
	h.assign("B", "2026-01-09", "assign", "gov-meixi", "2026-01-18")
	h.ack("B", "2026-01-20", "gov-meixi")
	h.accept("B", "2026-01-20", "gov-meixi", "2026-03-20")
	h.leader("B", "2026-01-25", true)
	h.extend("B", "2026-03-10", "2026-04-19")
	h.reply("B", "2026-04-10")
	h.serve("B", "2026-04-11")
	h.evalUnit("B", "2026-04-15", "dissatisfied", "gov-meixi")
	h.evalBureau("B", "2026-04-16", "satisfied")
	h.reviewReq("B", "2026-04-20", "2026-05-20")
	h.reviewDec("B", "2026-05-15", "upheld")
	h.closed("B", "2026-06-15", "window_lapsed")

	c := cp("web", "dipu", 1)
	c.respondent = "zjj"
	h.reg("C", "2026-02-01", c)
	h.assign("C", "2026-02-02", "transfer", "rsj", "2026-02-12")
	h.objected("C", "2026-02-05", "rsj")
	h.assign("C", "2026-02-06", "transfer", "zjj", "2026-02-16")
	h.ack("C", "2026-02-16", "zjj")
	h.accept("C", "2026-02-16", "zjj", "2026-04-17")
	h.action("C", "2026-04-18", eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_OVERDUE, eventsv1.Clock_CLOCK_HANDLING, "zjj")
	h.action("C", "2026-04-18", eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_DUBAN_NOTICE, eventsv1.Clock_CLOCK_HANDLING, "zjj")
	h.action("C", "2026-04-15", eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_REMINDER, eventsv1.Clock_CLOCK_HANDLING, "zjj")

	d := cp("phone", "dipu", 1)
	d.repeatOf = "C"
	h.reg("D", "2026-05-10", d)
	h.notAccepted("D", "2026-05-11", "C")
	h.closed("D", "2026-05-11", "routed_out")

	h.reg("E", "2026-02-10", cp("letter", "tianzihu", 2))
	h.diverted("E", "2026-02-12", eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION)
	h.closed("E", "2026-02-12", "routed_out")

	f := cp("letter", "dipu", 1)
	f.category = "suggestion"
	h.reg("F", "2026-03-01", f)
	h.forwarded("F", "2026-03-03")
	h.closed("F", "2026-03-03", "routed_out")

	g := cp("web", "tianzihu", 1)
	g.respondent = "gaj"
	h.reg("G", "2026-03-05", g)
	h.assign("G", "2026-03-06", "transfer", "gaj", "2026-03-15")
	h.ack("G", "2026-03-10", "gaj")
	h.accept("G", "2026-03-10", "gaj", "2026-05-09")
	h.reply("G", "2026-05-12")
	h.serve("G", "2026-05-13")
	h.evalUnit("G", "2026-05-14", "satisfied", "gaj")
	h.evalBureau("G", "2026-05-14", "basically")
	h.closed("G", "2026-06-13", "window_lapsed")

	hh := cp("web", "dipu", 1)
	hh.repeatOf = "G"
	h.reg("H", "2026-06-24", hh)
	h.assign("H", "2026-06-24", "transfer", "gaj", "2026-06-25")

	h.imported = true
	h.reg("I", "2026-02-20", cp("letter", "dipu", 3))
	h.assign("I", "2026-02-21", "transfer", "jyj", "2026-03-02")
	h.ack("I", "2026-03-01", "jyj")
	h.accept("I", "2026-03-01", "jyj", "2026-05-01")
	h.mediate("I", "2026-03-20", true)
	h.closed("I", "2026-03-20", "mediated")
	h.imported = false

	h.reg("J", "2026-03-10", cp("letter", "dipu", 1))
	h.assign("J", "2026-03-11", "transfer", "zjj", "2026-03-20")
	h.ack("J", "2026-03-15", "zjj")
	h.accept("J", "2026-03-15", "zjj", "2026-05-19")
	h.leader("J", "2026-03-16", true)
	h.mediate("J", "2026-03-25", false)
	h.leader("J", "2026-03-26", false)
	h.reply("J", "2026-04-01")
	h.serve("J", "2026-04-02")
	h.evalBureau("J", "2026-04-10", "dissatisfied")
	h.reviewReq("J", "2026-04-20", "2026-05-20")
	h.evalUnit("J", "2026-04-30", "lapsed", "zjj")
	h.reviewDec("J", "2026-05-10", "revoked")
	h.reReviewReq("J", "2026-05-15", "2026-06-14")
	h.reReviewDec("J", "2026-06-10", "upheld")
	h.final("J", "2026-06-10")

	k := cp("web", "xiaofeng", 1)
	k.category = "accusation"
	h.reg("K", "2026-06-25", k)
	h.assignCat("K", "2026-06-25", "accusation", "jwjw", "2026-07-05")

	h.reg("M", "2026-06-15", cp("letter", "dipu", 1))
	h.assign("M", "2026-06-16", "transfer", "zjj", "2026-06-28")
	h.ack("M", "2026-06-20", "zjj")

	h.reg("N", "2026-06-01", cp("letter", "dipu", 1))
	h.assign("N", "2026-06-02", "transfer", "rsj", "2026-06-11")
	return h
}

// f is a percent.
func f(x float64) *float64 { return &x }

// wantCounts and wantRates are the hand-computed figures of scenario().
var wantCounts = map[string][2]int64{ // id → {value, previous}
	"registrations":     {14, 2}, // O A B C D E F G H I J K M N; L1 L2
	"persons":           {22, 3},
	"firstTime":         {12, 2},
	"repeat":            {2, 0}, // D H
	"group":             {1, 0},
	"groupPersons":      {6, 0},
	"online":            {4, 1},  // C G H K; L2
	"transferred":       {10, 0}, // O A C G H I J K M N
	"assigned":          {1, 0},  // B
	"duban":             {1, 0},  // C
	"diverted":          {1, 0},  // E
	"forwarded":         {1, 1},  // F; L1
	"notAccepted":       {1, 0},  // D
	"extended":          {1, 0},  // B
	"concluded":         {5, 0},  // A B G I J
	"resolved":          {3, 0},  // A G I
	"mediated":          {2, 0},  // I J
	"mediationAgreed":   {1, 0},  // I
	"reviewRequested":   {2, 0},  // B J
	"reviewDecided":     {2, 0},
	"reviewUpheld":      {1, 0}, // B
	"reReviewRequested": {1, 0}, // J
	"reReviewDecided":   {1, 0},
	"reReviewUpheld":    {1, 0},
}

var wantRates = map[string]struct {
	num, den int64
	pct      *float64
}{
	"onlineShare":           {4, 14, f(28.57)},
	"firstTimeShare":        {12, 14, f(85.71)},
	"timelyAcknowledgement": {6, 8, f(75)},    // O A C G I J of O A B C G I J N (not H: repeat; not K, M: not yet due)
	"onTimeCompletion":      {4, 7, f(57.14)}, // A B I J of O A B C G I J
	"oneTimeResolution":     {2, 5, f(40)},    // A I of A B G I J
	"resolution":            {3, 5, f(60)},    // A G I of A B G I J
	"bureauSatisfaction":    {3, 4, f(75)},    // A B G of A B G J
	"bureauParticipation":   {4, 4, f(100)},   // no lapsed bureau rating
	"unitSatisfaction":      {2, 3, f(66.67)}, // A G of A B G
	"unitParticipation":     {3, 4, f(75)},    // J lapsed
	"mediationSuccess":      {1, 2, f(50)},    // I of I J
	"reviewUpheld":          {1, 2, f(50)},    // B of B J
	"reReviewUpheld":        {1, 1, f(100)},   // J
	"leaderResolution":      {1, 2, f(50)},    // A of A B (J's flag cleared)
}

func checkSummary(t *testing.T, s *statistics.Summary) {
	t.Helper()
	for id, want := range wantCounts {
		got := s.Counts[id]
		if got.Value != want[0] || got.Previous != want[1] {
			t.Errorf("%s = %d (previous %d), want %d (previous %d)", id, got.Value, got.Previous, want[0], want[1])
		}
	}
	if len(s.Counts) != len(wantCounts) {
		t.Errorf("summary has %d counts, the test checks %d", len(s.Counts), len(wantCounts))
	}
	for id, want := range wantRates {
		got := s.Rates[id]
		if got.Numerator != want.num || got.Denominator != want.den || !reflect.DeepEqual(got.Percent, want.pct) {
			t.Errorf("%s = %d/%d = %v, want %d/%d = %v", id, got.Numerator, got.Denominator, deref(got.Percent), want.num, want.den, deref(want.pct))
		}
	}
	if len(s.Rates) != len(wantRates) {
		t.Errorf("summary has %d rates, the test checks %d", len(s.Rates), len(wantRates))
	}
	if r := s.Counts["registrations"]; r.ChangePercent == nil || *r.ChangePercent != 600 {
		t.Errorf("registrations change = %v, want 600", deref(r.ChangePercent))
	}
	if p := s.Counts["persons"]; p.ChangePercent == nil || *p.ChangePercent != 633.33 {
		t.Errorf("persons change = %v, want 633.33", deref(p.ChangePercent))
	}
	// Previous year: only L2's share is defined.
	if p := s.Rates["onlineShare"].PreviousPercent; p == nil || *p != 50 {
		t.Errorf("previous online share = %v, want 50", deref(p))
	}
	if p := s.Rates["timelyAcknowledgement"].PreviousPercent; p != nil {
		t.Errorf("previous timely acknowledgement = %v, want null", *p)
	}
	// 积案 on 2026-06-25: N 14 days, C 69, O 103, L2 499.
	b := s.Backlog
	wantAgeing := []int64{1, 1, 1, 1}
	for i, a := range b.Ageing {
		if a.Count != wantAgeing[i] {
			t.Errorf("backlog %s = %d, want %d", a.Bucket, a.Count, wantAgeing[i])
		}
	}
	if b.Total != 4 || b.AsOf != "2026-06-25" {
		t.Errorf("backlog total %d as of %s, want 4 as of 2026-06-25", b.Total, b.AsOf)
	}
	wantDepts := []statistics.Entry{{Key: "zjj", Label: "安吉县住房和城乡建设局", Value: 2}, {Key: "", Label: "信访部门（待转送）", Value: 1}, {Key: "rsj", Label: "安吉县人力资源和社会保障局", Value: 1}}
	if !reflect.DeepEqual(b.ByDepartment, wantDepts) {
		t.Errorf("backlog by department = %+v, want %+v", b.ByDepartment, wantDepts)
	}
	if want := []statistics.Entry{{Key: "litigation", Label: "诉讼", Value: 1}}; !reflect.DeepEqual(s.DivertedByChannel, want) {
		t.Errorf("diverted by channel = %+v, want %+v", s.DivertedByChannel, want)
	}
	wantTop := []statistics.Entry{{Key: "zjj", Label: "安吉县住房和城乡建设局", Value: 2}, {Key: "gaj", Label: "安吉县公安局", Value: 1}, {Key: "gov-meixi", Label: "梅溪镇人民政府", Value: 1}}
	if !reflect.DeepEqual(s.TopRespondents, wantTop) {
		t.Errorf("top respondents = %+v, want %+v", s.TopRespondents, wantTop)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

var period = statistics.PeriodQuery{From: "2026-01-01", To: "2026-06-30"}

func summaryJSON(t *testing.T, svc statistics.Service) string {
	t.Helper()
	s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func TestEveryFigureFromAHandComputedHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-06-25")
		envs := scenario().envs
		applyAll(t, svc, envs)
		s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period})
		if err != nil {
			t.Fatal(err)
		}
		checkSummary(t, s)
		first := summaryJSON(t, svc)

		// Replaying the same events (a redelivery, a republish) changes nothing.
		applyAll(t, svc, envs)
		if again := summaryJSON(t, svc); again != first {
			t.Errorf("replay changed the summary:\n%s\n%s", first, again)
		}
	})
}

func TestStreamsMayInterleaveInAnyOrder(t *testing.T) {
	// The petitions, routing and cases topics are separate partitions:
	// statistics may see a case's routing before its registration, or its
	// lifecycle before its routing. The figures must not depend on it.
	streams := byStream(scenario().envs)
	orders := [][]eventsv1.Stream{
		{eventsv1.StreamCases, eventsv1.StreamRouting, eventsv1.StreamPetitions},
		{eventsv1.StreamRouting, eventsv1.StreamPetitions, eventsv1.StreamCases},
	}
	db := storetest.SQLite(t)
	ref, _ := newService(t, db, "2026-06-25")
	applyAll(t, ref, scenario().envs)
	want := summaryJSON(t, ref)
	for _, order := range orders {
		db := storetest.SQLite(t)
		svc, _ := newService(t, db, "2026-06-25")
		for _, s := range order {
			applyAll(t, svc, streams[s])
		}
		if got := summaryJSON(t, svc); got != want {
			t.Errorf("order %v gives\n%s\nwant\n%s", order, got, want)
		}
	}
}

func TestImportedHistoryCountsLikeLive(t *testing.T) {
	live, imported := scenario(), scenario()
	for _, e := range imported.envs {
		e.Imported = true
	}
	a, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	b, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	applyAll(t, a, live.envs)
	applyAll(t, b, imported.envs)
	if x, y := summaryJSON(t, a), summaryJSON(t, b); x != y {
		t.Errorf("imported history gives\n%s\nlive gives\n%s", y, x)
	}
	la, err := a.Alerts(context.Background(), statistics.AlertsQuery{Since: "2020-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Alerts(context.Background(), statistics.AlertsQuery{Since: "2020-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if len(la.Alerts) == 0 || len(lb.Alerts) != 0 {
		t.Errorf("live history raised %d alerts (want some: B is a group petition), imported %d (want 0)", len(la.Alerts), len(lb.Alerts))
	}
}

func TestDueDayFiguresWaitForTheDueDay(t *testing.T) {
	// M's acknowledgement is due 06-28. On 06-25 it is not yet counted;
	// from 06-28 it counts (acknowledged on 06-20: on time).
	svc, clk := newService(t, storetest.SQLite(t), "2026-06-25")
	applyAll(t, svc, scenario().envs)
	get := func() statistics.Rate {
		s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period})
		if err != nil {
			t.Fatal(err)
		}
		return s.Rates["timelyAcknowledgement"]
	}
	if r := get(); r.Numerator != 6 || r.Denominator != 8 {
		t.Fatalf("on 06-25: %d/%d, want 6/8", r.Numerator, r.Denominator)
	}
	clk.Set(at("2026-06-28"))
	if r := get(); r.Numerator != 7 || r.Denominator != 9 {
		t.Errorf("on 06-28: %d/%d, want 7/9 (M counts; H is a repeat; K due after the period)", r.Numerator, r.Denominator)
	}
}
