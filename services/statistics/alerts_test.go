package statistics_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"google.golang.org/protobuf/proto"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// alertsOf lists the service's alerts of one kind as "dimension/key" → count.
func alertsOf(t *testing.T, svc statistics.Service, kind string) map[string]int64 {
	t.Helper()
	l, err := svc.Alerts(context.Background(), statistics.AlertsQuery{Since: "2020-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, a := range l.Alerts {
		if a.Kind == kind {
			out[a.Dimension+"/"+a.Key+"@"+a.Day] = a.Count
		}
	}
	return out
}

// outboxAlerts decodes the alert.raised envelopes waiting in the outbox.
func outboxAlerts(t *testing.T, db *store.DB) []*eventsv1.Envelope {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT topic, msg_key, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*eventsv1.Envelope
	for rows.Next() {
		var topic string
		var key, payload []byte
		if err := rows.Scan(&topic, &key, &payload); err != nil {
			t.Fatal(err)
		}
		var env eventsv1.Envelope
		if err := proto.Unmarshal(payload, &env); err != nil {
			t.Fatal(err)
		}
		if topic != "xinfang.anji.alerts" || env.GetAlertRaised() == nil || string(key) != env.GetCaseId() {
			t.Errorf("outbox row on %s key %q: %s", topic, key, env.GetType())
		}
		out = append(out, &env)
	}
	return out
}

func TestGroupPetitionAlert(t *testing.T) {
	eachMode(t, func(t *testing.T, db *store.DB, applyAll applier) {
		svc, _ := newService(t, db, "2026-06-25")
		h := &history{}
		h.reg("G1", "2026-06-25", petition{channel: "visit", category: "complaint", township: "hanggai", persons: 5})
		h.reg("G2", "2026-06-25", petition{channel: "visit", category: "complaint", township: "hanggai", persons: 4})
		h.imported = true
		h.reg("G3", "2026-06-25", petition{channel: "visit", category: "complaint", township: "hanggai", persons: 8})
		applyAll(t, svc, h.envs)
		applyAll(t, svc, h.envs) // replay: no second alert
		want := map[string]int64{"township/hanggai@2026-06-25": 5}
		if got := alertsOf(t, svc, "group_petition"); !reflect.DeepEqual(got, want) {
			t.Errorf("group alerts = %v, want %v (G2 has 4 persons, G3 is imported)", got, want)
		}
		envs := outboxAlerts(t, db)
		if len(envs) != 1 {
			t.Fatalf("outbox has %d alert events, want 1", len(envs))
		}
		a := envs[0]
		if a.GetCaseId() != "G1" || a.GetAlertRaised().GetKind() != eventsv1.AlertKind_ALERT_KIND_GROUP_PETITION ||
			a.GetAlertRaised().GetCount() != 5 || a.GetCausationId() != h.envs[0].GetEventId() ||
			!reflect.DeepEqual(a.GetAlertRaised().GetCaseIds(), []string{"G1"}) {
			t.Errorf("alert event = %v", a)
		}
	})
}

func TestAlertsOfAFailedBatchAreRaisedWhenItsEventsApply(t *testing.T) {
	// The service remembers which alerts are stored, to skip rules that can
	// raise nothing more; what a rolled-back batch raised is not stored and
	// must not be remembered.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-06-25")
		h := &history{}
		h.reg("G1", "2026-06-25", petition{channel: "visit", category: "complaint", township: "hanggai", persons: 5})
		bad := &history{prefix: "bad-"}
		bad.add("A", "2026-03-05", &eventsv1.CaseEvaluated{Target: eventsv1.EvaluationTarget_EVALUATION_TARGET_BUREAU})
		if err := svc.ApplyBatch(context.Background(), events([]*eventsv1.Envelope{h.envs[0], bad.envs[0]})); err == nil {
			t.Fatal("a batch with a refused event applied")
		}
		if got := alertsOf(t, svc, "group_petition"); len(got) != 0 {
			t.Fatalf("group alerts after a failed batch = %v, want none", got)
		}
		applyAll(t, svc, h.envs)
		applyAll(t, svc, h.envs) // replay: no second alert
		want := map[string]int64{"township/hanggai@2026-06-25": 5}
		if got := alertsOf(t, svc, "group_petition"); !reflect.DeepEqual(got, want) {
			t.Errorf("group alerts = %v, want %v", got, want)
		}
		if n := len(outboxAlerts(t, db)); n != 1 {
			t.Errorf("outbox has %d alert events, want 1", n)
		}
	})
}

func TestSpikeAlertsAgainstTheBaseline(t *testing.T) {
	// Warnings of the sample county: spike when today's count ≥ 10 and
	// > 200% of the mean of the 28 days before.
	eachMode(t, func(t *testing.T, db *store.DB, applyAll applier) {
		svc, _ := newService(t, db, "2026-06-25")
		today := county.NewDate(2026, 6, 25)
		base := &history{imported: true, prefix: "base-"}
		for d := 1; d <= 28; d++ {
			day := today.AddDays(-d).String()
			// dipu: 1 accusation a day; xiaofeng: 10 suggestions a day against rsj.
			base.reg(fmt.Sprintf("B-dipu-%d", d), day, petition{channel: "letter", category: "accusation", township: "dipu", persons: 1})
			for i := range 10 {
				base.reg(fmt.Sprintf("B-xf-%d-%d", d, i), day, petition{channel: "letter", category: "suggestion", township: "xiaofeng", respondent: "rsj", persons: 1})
			}
		}
		applyAll(t, svc, base.envs)
		live := &history{prefix: "live-"}
		for i := range 11 {
			live.reg(fmt.Sprintf("dipu-%d", i), today.String(), petition{channel: "web", category: "accusation", township: "dipu", persons: 1})
			live.reg(fmt.Sprintf("xf-%d", i), today.String(), petition{channel: "web", category: "suggestion", township: "xiaofeng", respondent: "rsj", persons: 1})
		}
		// Nine today: below spikeMinCount, nothing yet.
		applyAll(t, svc, live.envs[:18])
		if got := alertsOf(t, svc, "spike"); len(got) != 0 {
			t.Fatalf("spike alerts after 9 a key: %v, want none", got)
		}
		applyAll(t, svc, live.envs[18:])
		applyAll(t, svc, live.envs)
		// dipu: 11 today against a baseline of 1/day → spike (township and
		// the accusation category). xiaofeng and rsj: 11 against 10/day is a
		// flat baseline → nothing.
		want := map[string]int64{"township/dipu@2026-06-25": 10, "category/accusation@2026-06-25": 10}
		if got := alertsOf(t, svc, "spike"); !reflect.DeepEqual(got, want) {
			t.Errorf("spike alerts = %v, want %v", got, want)
		}
		l, _ := svc.Alerts(context.Background(), statistics.AlertsQuery{})
		for _, a := range l.Alerts {
			if a.Kind == "spike" && (a.Baseline != 1 || a.Threshold != 2 || a.CaseID != "alert/spike/"+a.Dimension+"/"+a.Key+"/2026-06-25") {
				t.Errorf("spike alert %+v: want baseline 1, threshold 2 and a synthetic case id", a)
			}
		}
		if n := len(outboxAlerts(t, db)); n != 2 {
			t.Errorf("outbox has %d alert events, want 2", n)
		}
	})
}

func TestRepeatPetitionerAlert(t *testing.T) {
	eachMode(t, func(t *testing.T, db *store.DB, applyAll applier) {
		svc, _ := newService(t, db, "2026-06-25")
		h := &history{}
		p := func(keys []string, repeatOf string) petition {
			return petition{channel: "letter", category: "complaint", township: "baofu", persons: 1, keys: keys, repeatOf: repeatOf}
		}
		P, Q := []string{"hmac-p"}, []string{"hmac-q", "hmac-other"}
		h.reg("R1", "2026-01-10", p(P, ""))
		h.reg("R2", "2026-02-01", p(P, "R1")) // the same matter again
		h.reg("R3", "2026-03-01", p(P, ""))
		h.reg("Q1", "2025-06-01", p(Q, "")) // outside the 180 days before Q3
		h.reg("Q2", "2026-03-01", p(Q, ""))
		h.reg("Q3", "2026-06-20", p(Q, ""))
		applyAll(t, svc, h.envs)
		if got := alertsOf(t, svc, "repeat_petitioner"); len(got) != 0 {
			t.Fatalf("repeat alerts = %v, want none: P has 2 distinct matters (R2 repeats R1), Q 2 within 180 days", got)
		}
		h.reg("R4", "2026-06-20", p(P, ""))
		applyAll(t, svc, h.envs)
		want := map[string]int64{"petitioner/hmac-p@2026-06-20": 3}
		if got := alertsOf(t, svc, "repeat_petitioner"); !reflect.DeepEqual(got, want) {
			t.Errorf("repeat alerts = %v, want %v", got, want)
		}
		l, _ := svc.Alerts(context.Background(), statistics.AlertsQuery{Since: "2026-06-01"})
		if len(l.Alerts) != 1 || !reflect.DeepEqual(l.Alerts[0].CaseIDs, []string{"R1", "R3", "R4"}) || l.Alerts[0].CaseID != "R4" {
			t.Errorf("alerts = %+v, want one for R4 naming R1 R3 R4", l.Alerts)
		}
	})
}

func TestOverdueAccumulationAlert(t *testing.T) {
	eachMode(t, func(t *testing.T, db *store.DB, applyAll applier) {
		svc, clk := newService(t, db, "2026-06-25")
		overdue := eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_OVERDUE
		h := &history{}
		open := func(id, dept string) {
			h.reg(id, "2026-03-01", petition{channel: "letter", category: "complaint", township: "zhangcun", persons: 1})
			h.assign(id, "2026-03-02", "transfer", dept, "2026-03-12")
			h.ack(id, "2026-03-05", dept)
			h.accept(id, "2026-03-05", dept, "2026-05-04")
		}
		for i := 1; i <= 7; i++ {
			open(fmt.Sprintf("V%d", i), "gaj") // threshold 5 (county default)
			open(fmt.Sprintf("Z%d", i), "zjj") // threshold 8 (per department)
		}
		applyAll(t, svc, h.envs)
		mark := func(id, dept string) {
			h.action(id, "2026-06-25", overdue, eventsv1.Clock_CLOCK_HANDLING, dept)
			applyAll(t, svc, h.envs[len(h.envs)-1:])
		}
		for i := 1; i <= 4; i++ {
			mark(fmt.Sprintf("V%d", i), "gaj")
		}
		// A second overdue clock of an overdue case does not count twice.
		h.action("V1", "2026-06-25", overdue, eventsv1.Clock_CLOCK_HANDLING, "gaj")
		applyAll(t, svc, h.envs)
		if got := alertsOf(t, svc, "overdue_accumulation"); len(got) != 0 {
			t.Fatalf("overdue alerts at 4 = %v, want none", got)
		}
		mark("V5", "gaj")
		mark("V6", "gaj") // same day: no second alert
		for i := 1; i <= 7; i++ {
			mark(fmt.Sprintf("Z%d", i), "zjj")
		}
		want := map[string]int64{"department/gaj@2026-06-25": 5}
		if got := alertsOf(t, svc, "overdue_accumulation"); !reflect.DeepEqual(got, want) {
			t.Errorf("overdue alerts = %v, want %v (zjj's 7 are under its threshold of 8)", got, want)
		}
		// A reply clears the mark: next day gaj has V2..V7 = 6, not 7.
		h.reply("V1", "2026-06-25")
		applyAll(t, svc, h.envs)
		clk.Set(at("2026-06-26"))
		mark("V7", "gaj")
		want["department/gaj@2026-06-26"] = 6
		if got := alertsOf(t, svc, "overdue_accumulation"); !reflect.DeepEqual(got, want) {
			t.Errorf("overdue alerts = %v, want %v", got, want)
		}
		// Imported overdue marks count towards the state but raise nothing.
		imp := &history{imported: true, prefix: "imp-"}
		for i := 1; i <= 6; i++ {
			id := fmt.Sprintf("W%d", i)
			imp.reg(id, "2026-03-01", petition{channel: "letter", category: "complaint", township: "zhangcun", persons: 1})
			imp.assign(id, "2026-03-02", "transfer", "gov-dipu", "2026-03-12")
			imp.action(id, "2026-04-01", overdue, eventsv1.Clock_CLOCK_ACKNOWLEDGE, "gov-dipu")
		}
		applyAll(t, svc, imp.envs)
		got := alertsOf(t, svc, "overdue_accumulation")
		if _, ok := got["department/gov-dipu@2026-06-26"]; ok {
			t.Errorf("imported overdue marks raised an alert: %v", got)
		}
		var kinds []string
		for _, e := range outboxAlerts(t, db) {
			if e.GetAlertRaised().GetKind() == eventsv1.AlertKind_ALERT_KIND_OVERDUE_ACCUMULATION {
				kinds = append(kinds, e.GetCaseId())
			}
		}
		sort.Strings(kinds)
		if want := []string{"alert/overdue/gaj/2026-06-25", "alert/overdue/gaj/2026-06-26"}; !reflect.DeepEqual(kinds, want) {
			t.Errorf("alert events for %v, want %v", kinds, want)
		}
	})
}

func TestNoAlertsForAFlatHistory(t *testing.T) {
	// Six weeks of ordinary days, live: two petitions a day per township,
	// single persons, distinct petitioners, every case answered in time.
	svc, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	h := &history{}
	start := county.NewDate(2026, 5, 10)
	for d := range 42 {
		day := start.AddDays(d).String()
		for i, tw := range []string{"dipu", "dipu", "meixi", "meixi"} {
			id := fmt.Sprintf("F%d-%d", d, i)
			h.reg(id, day, petition{channel: "letter", category: "complaint", township: tw, respondent: "zjj", persons: 1, keys: []string{"k-" + id}})
			h.assign(id, day, "transfer", "zjj", start.AddDays(d+10).String())
			h.action(id, day, eventsv1.SupervisionActionKind_SUPERVISION_ACTION_KIND_REMINDER, eventsv1.Clock_CLOCK_ACKNOWLEDGE, "zjj")
		}
	}
	applyAll(t, svc, h.envs)
	l, err := svc.Alerts(context.Background(), statistics.AlertsQuery{Since: "2020-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Alerts) != 0 {
		t.Errorf("flat history raised %d alerts: %+v", len(l.Alerts), l.Alerts)
	}
}
