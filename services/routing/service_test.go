package routing

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/inbox"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// harness is the routing service over a real database and a real outbox;
// the events it emits are read back from the outbox table.
type harness struct {
	t       *testing.T
	db      *store.DB
	svc     Service
	watcher *county.Watcher
	path    string
	seen    int
}

func newHarness(t *testing.T, db *store.DB) *harness {
	t.Helper()
	ctx := context.Background()
	for name, m := range map[string][]store.Migration{"outbox": outbox.Migrations, "inbox": inbox.Migrations, "routing": Migrations} {
		if err := db.Migrate(ctx, name, m); err != nil {
			t.Fatal(err)
		}
	}
	path := writeCountyFile(t, t.TempDir(), anjiYAML(t))
	log := slog.New(slog.DiscardHandler)
	w, err := county.NewWatcher(path, time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := NewRules(w, log)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{County: "anji", Rules: rules, DB: db, Outbox: outbox.New(db, "anji"), Consumer: "xinfang.anji.routing",
		Now: func() time.Time { return testNow }, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, db: db, svc: svc, watcher: w, path: path}
}

// emitted returns the events enqueued since the last call.
func (h *harness) emitted() []*eventsv1.Envelope {
	h.t.Helper()
	rows, err := h.db.Query(context.Background(), `SELECT payload FROM outbox ORDER BY id`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var all []*eventsv1.Envelope
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			h.t.Fatal(err)
		}
		env := &eventsv1.Envelope{}
		if err := proto.Unmarshal(b, env); err != nil {
			h.t.Fatal(err)
		}
		all = append(all, env)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	out := all[h.seen:]
	h.seen = len(all)
	return out
}

// one handles env and returns the single event it emitted (or fails).
func (h *harness) one(env *eventsv1.Envelope) *eventsv1.Envelope {
	h.t.Helper()
	if err := h.svc.HandleEvent(context.Background(), env); err != nil {
		h.t.Fatalf("handle %s: %v", env.Type, err)
	}
	out := h.emitted()
	if len(out) != 1 {
		h.t.Fatalf("handling %s of %s emitted %d events, want 1", env.Type, env.CaseId, len(out))
	}
	return out[0]
}

// none handles env and checks that it emitted nothing.
func (h *harness) none(env *eventsv1.Envelope) {
	h.t.Helper()
	if err := h.svc.HandleEvent(context.Background(), env); err != nil {
		h.t.Fatalf("handle %s: %v", env.Type, err)
	}
	if out := h.emitted(); len(out) != 0 {
		h.t.Fatalf("handling %s of %s emitted %d events, want none: %v", env.Type, env.CaseId, len(out), out)
	}
}

var received = time.Date(2026, 2, 27, 9, 0, 0, 0, county.Shanghai)

func envelope(caseID string, payload proto.Message) *eventsv1.Envelope {
	env := &eventsv1.Envelope{EventId: outbox.NewEventID(), County: "anji", CaseId: caseID,
		OccurredAt: timestamppb.New(received), Actor: &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_CLERK, Id: "clerk-1"}}
	if err := env.SetPayload(payload); err != nil {
		panic(err)
	}
	return env
}

func petition(caseID string, cat eventsv1.Category, respondent, request string) *eventsv1.Envelope {
	return envelope(caseID, &eventsv1.PetitionRegistered{
		Channel: eventsv1.Channel_CHANNEL_WEB, PetitionerKeys: []string{"k-" + caseID}, PersonCount: 1, Township: "dipu",
		Title: "来信", Content: &eventsv1.Content{Request: request, Facts: "", Reasons: ""}, CategoryHint: cat,
		Respondent: respondent, ReceivedAt: timestamppb.New(received), RoutingDue: "2026-03-09",
	})
}

func repeatOf(env *eventsv1.Envelope, earlier string) *eventsv1.Envelope {
	env.GetPetitionRegistered().RepeatOf = earlier
	return env
}

const (
	pComplaint  = eventsv1.Category_CATEGORY_COMPLAINT
	pAccusation = eventsv1.Category_CATEGORY_ACCUSATION
)

func TestServiceRoutesEachCaseOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		in := petition("AJ-1", pComplaint, "", "公司拖欠工资三个月")
		in.Imported = true
		// An imported case is routed as of the day it was received (its
		// clocks run from history): the acknowledgement is due 10 days
		// (anji's stricter limit) after receipt, not after today.
		out := h.one(in)
		a := out.GetCaseAssigned()
		if out.Type != "case.assigned" || a == nil || a.LeadDepartment != "rsj" || a.RuleId != "wages-social-insurance" ||
			a.AcknowledgeDue != "2026-03-09" || a.Mode != eventsv1.AssignMode_ASSIGN_MODE_TRANSFER || a.Attempt != 1 ||
			a.Category != pComplaint || a.RulesVersion != h.watcher.Current().Version {
			t.Fatalf("decision %v", out)
		}
		if out.CaseId != "AJ-1" || out.County != "anji" || out.CausationId != in.EventId || !out.Imported ||
			!out.OccurredAt.AsTime().Equal(testNow) || out.Actor.GetKind() != eventsv1.ActorKind_ACTOR_KIND_SYSTEM ||
			out.Actor.GetId() != "routing" || out.Reason == "" || out.EventId == in.EventId {
			t.Fatalf("envelope %v", out)
		}
		// The same event again, and the same case registered again under a
		// new event id: no second decision.
		h.none(in)
		h.none(petition("AJ-1", pComplaint, "", "公司拖欠工资三个月"))

		// Imported history that carries its own routing decision is recorded,
		// not decided again.
		hist := petition("AJ-H", pComplaint, "", "公司拖欠工资三个月")
		hist.Imported = true
		hist.GetPetitionRegistered().HistoryRouted = true
		h.none(hist)

		// Other events of the cases stream that routing does not use.
		h.none(envelope("AJ-1", &eventsv1.CaseAcknowledged{Department: "rsj", NotifiedOn: "2026-03-03"}))

		// An event of another county is refused.
		other := petition("AJ-2", pComplaint, "", "x")
		other.County = "changxing"
		var ae *apierror.Error
		if err := h.svc.HandleEvent(context.Background(), other); !errors.As(err, &ae) {
			t.Fatalf("other county: %v", err)
		}
	})
}

func TestServiceAccusationGuardOnTheEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		env := petition("AJ-7", pAccusation, "xfj", "信访局工作人员推诿")
		env.GetPetitionRegistered().Channel = eventsv1.Channel_CHANNEL_VISIT
		env.GetPetitionRegistered().Group = true
		a := h.one(env).GetCaseAssigned()
		if a.GetLeadDepartment() != "jwjw" || a.Mode != eventsv1.AssignMode_ASSIGN_MODE_ASSIGN || !slices.Equal(a.ExcludedDepartments, []string{"xfj"}) ||
			len(a.Overrides) != 1 || a.Overrides[0].Guard != "accusation" || a.Overrides[0].RuleId != "group-visit" ||
			a.Overrides[0].ExcludedDepartment != "xfj" || a.Overrides[0].Replacement != "jwjw" {
			t.Fatalf("assigned %v", a)
		}
	})
}

func TestServiceDecisionKinds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		d := h.one(petition("AJ-10", pComplaint, "", "对一审判决不服")).GetCaseDiverted()
		if d.GetLegalChannel() != eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION || d.Body != "安吉县人民法院" || d.Guidance == "" || d.RuleId != "litigation" {
			t.Fatalf("diverted %v", d)
		}
		f := h.one(petition("AJ-11", pComplaint, "", "长兴县某企业排污")).GetCaseForwarded()
		if f.GetDestination() != "湖州市信访局" || f.RuleId != "forward-out-of-county" || f.RulesVersion == "" {
			t.Fatalf("forwarded %v", f)
		}
		empty := petition("AJ-12", pComplaint, "", "")
		empty.GetPetitionRegistered().Title = ""
		n := h.one(empty).GetCaseNotAccepted()
		if n.GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE || n.Article != "19" {
			t.Fatalf("not accepted %v", n)
		}
	})
}

func TestServiceFinalityLockAndOpenCaseLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.one(petition("AJ-20", pComplaint, "", "公司拖欠工资"))
		h.none(envelope("AJ-20", &eventsv1.CaseFinal{Article: "36(3)"}))
		h.none(envelope("AJ-20", &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_WINDOW_LAPSED})) // final stays final

		n := h.one(repeatOf(petition("AJ-21", pComplaint, "", "公司拖欠工资"), "AJ-20")).GetCaseNotAccepted()
		if n.GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_FINAL || n.Article != "36(3)" || n.LinkedCaseId != "AJ-20" {
			t.Fatalf("repeat of final: %v", n)
		}
		// A repeat of the refused repeat is locked to the same final case.
		n = h.one(repeatOf(petition("AJ-22", pComplaint, "", "公司拖欠工资"), "AJ-21")).GetCaseNotAccepted()
		if n.GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_FINAL || n.LinkedCaseId != "AJ-20" {
			t.Fatalf("repeat of a refused repeat: %v", n)
		}

		h.one(petition("AJ-30", pComplaint, "", "小区物业乱收费"))
		n = h.one(repeatOf(petition("AJ-31", pComplaint, "", "小区物业乱收费"), "AJ-30")).GetCaseNotAccepted()
		if n.GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_WITHIN_TIME_LIMIT || n.Article != "19(3)" || n.LinkedCaseId != "AJ-30" {
			t.Fatalf("repeat of open case: %v", n)
		}
		// Once the earlier case is closed (not final), the matter is routed.
		h.none(envelope("AJ-30", &eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_WINDOW_LAPSED}))
		if a := h.one(repeatOf(petition("AJ-32", pComplaint, "", "小区物业乱收费"), "AJ-30")).GetCaseAssigned(); a.GetLeadDepartment() != "zjj" {
			t.Fatalf("repeat of closed case: %v", a)
		}
		// The lock holds for a final case routing only heard of through
		// case.final (imported history).
		h.none(envelope("AJ-40", &eventsv1.CaseFinal{Article: "36(3)"}))
		if n := h.one(repeatOf(petition("AJ-41", pComplaint, "", "x"), "AJ-40")).GetCaseNotAccepted(); n.GetLinkedCaseId() != "AJ-40" {
			t.Fatalf("repeat of imported final case: %v", n)
		}
	})
}

func TestServiceObjectionReroutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		first := h.one(petition("AJ-50", pComplaint, "", "在工地干了半年，老板不发工资"))
		if a := first.GetCaseAssigned(); a.LeadDepartment != "rsj" || !slices.Equal(a.CoDepartments, []string{"zjj"}) {
			t.Fatalf("first %v", a)
		}
		// Late objections, and objections by departments the case is not
		// assigned to, change nothing.
		h.none(envelope("AJ-50", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: false}))
		h.none(envelope("AJ-50", &eventsv1.CaseObjected{Department: "jyj", WithinWindow: true}))

		obj := envelope("AJ-50", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true})
		out := h.one(obj)
		a := out.GetCaseAssigned()
		if a.GetLeadDepartment() != "xfj" || a.Attempt != 2 || a.RuleId != DefaultRuleID || !slices.Equal(a.ExcludedDepartments, []string{"rsj"}) ||
			len(a.Overrides) != 2 || a.Overrides[0].Guard != "objection" || a.Overrides[0].RuleId != "wages-construction" ||
			a.Overrides[1].RuleId != "wages-social-insurance" || a.Overrides[1].Replacement != "xfj" || out.CausationId != obj.EventId {
			t.Fatalf("re-routed %v", out)
		}
		h.none(obj) // duplicate delivery

		// When every candidate has objected, no decision is made: bureau
		// staff are alerted and the case waits for a manual 转办 (see
		// TestServiceAwaitingManualRouting).
		last := envelope("AJ-50", &eventsv1.CaseObjected{Department: "xfj", WithinWindow: true})
		alert := h.one(last)
		if al := alert.GetAlertRaised(); al.GetKind() != eventsv1.AlertKind_ALERT_KIND_ROUTING_NEEDS_STAFF || alert.CausationId != last.EventId {
			t.Fatalf("objection by the last candidate: %v", alert)
		}

		// Objections accumulate: each re-routing excludes every objector.
		env := petition("AJ-51", pComplaint, "", "征地补偿款至今未到位")
		env.GetPetitionRegistered().Township = "meixi"
		if a := h.one(env).GetCaseAssigned(); a.LeadDepartment != "gov-meixi" {
			t.Fatalf("meixi %v", a)
		}
		if a := h.one(envelope("AJ-51", &eventsv1.CaseObjected{Department: "gov-meixi", WithinWindow: true})).GetCaseAssigned(); a.LeadDepartment != "zrzyj" || a.Attempt != 2 {
			t.Fatalf("first objection %v", a)
		}
		a = h.one(envelope("AJ-51", &eventsv1.CaseObjected{Department: "zrzyj", WithinWindow: true})).GetCaseAssigned()
		if a.LeadDepartment != "xfj" || a.Attempt != 3 || !slices.Equal(a.ExcludedDepartments, []string{"gov-meixi", "zrzyj"}) {
			t.Fatalf("second objection: %v", a)
		}

		// An objection to a case routing never saw is refused.
		var ae *apierror.Error
		if err := h.svc.HandleEvent(context.Background(), envelope("AJ-404", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true})); !errors.As(err, &ae) || ae.Kind != apierror.NotFound {
			t.Fatalf("unknown case: %v", err)
		}
	})
}

func TestServiceHotReloadChangesTheNextDecision(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	v1 := h.one(petition("AJ-60", pComplaint, "", "小区物业乱收费")).GetCaseAssigned()
	writeCountyFile(t, filepath.Dir(h.path), edit(t, anjiYAML(t), "assign: {lead: zjj}", "assign: {lead: gov-dipu}"))
	if changed, err := h.watcher.Poll(); !changed || err != nil {
		t.Fatalf("poll %v %v", changed, err)
	}
	v2 := h.one(petition("AJ-61", pComplaint, "", "小区物业乱收费")).GetCaseAssigned()
	if v1.LeadDepartment != "zjj" || v2.LeadDepartment != "gov-dipu" || v1.RulesVersion == v2.RulesVersion || v2.RulesVersion != h.watcher.Current().Version {
		t.Fatalf("before %v\nafter %v", v1, v2)
	}
}
