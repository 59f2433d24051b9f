package routing

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// smallCounty has a bureau without a supervising body and one department,
// so an accusation against the bureau has nowhere to go: no department may
// receive it at its first routing.
const smallCounty = `apiVersion: xinfang.io/v1alpha1
kind: County
metadata: {name: anji}
spec:
  displayName: 安吉县
  divisionCode: "330523"
  townships: [{id: dipu, name: 递铺街道}]
  departments:
    - {id: xfj, name: 安吉县信访局, kind: bureau, categories: [complaint, suggestion, accusation]}
    - {id: zjj, name: 安吉县住房和城乡建设局, kind: department, categories: [complaint, suggestion]}
  defaultDepartment: xfj
`

// reload replaces the harness's county file and makes it current.
func (h *harness) reload(yaml string) {
	h.t.Helper()
	writeCountyFile(h.t, filepath.Dir(h.path), yaml)
	if changed, err := h.watcher.Poll(); !changed || err != nil {
		h.t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
}

func staff(t *testing.T, role auth.Role) context.Context {
	return auth.WithClaims(context.Background(), &auth.Claims{County: "anji", Role: role, Department: "xfj"})
}

// TestServiceAwaitingManualRouting: when every candidate is excluded —
// after objections, or at the first routing — no decision is made; bureau
// staff are alerted (alert.raised, ALERT_KIND_ROUTING_NEEDS_STAFF, not for
// imported history), the case is listed as awaiting manual routing, a
// repeat of it is linked to it (Art. 19(3)), and a manual 转办 resolves it
// as the next attempt.
func TestServiceAwaitingManualRouting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		sup := staff(t, auth.RoleSupervisor)

		// After objections: rsj, then the default department xfj object.
		h.one(petition("AJ-70", pComplaint, "", "公司拖欠工资三个月"))
		h.one(envelope("AJ-70", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true}))
		last := envelope("AJ-70", &eventsv1.CaseObjected{Department: "xfj", WithinWindow: true})
		out := h.one(last)
		al := out.GetAlertRaised()
		if out.Type != "alert.raised" || out.CaseId != "AJ-70" || out.CausationId != last.EventId || out.Actor.GetId() != "routing" ||
			al.GetKind() != eventsv1.AlertKind_ALERT_KIND_ROUTING_NEEDS_STAFF || al.Dimension != "case" || al.Key != "AJ-70" ||
			!slices.Equal(al.CaseIds, []string{"AJ-70"}) || !strings.Contains(al.Message, "请人工转办") ||
			!strings.Contains(out.Reason, "xfj objected") || !strings.Contains(out.Reason, "no department may receive the case") {
			t.Fatalf("alert %v", out)
		}
		if eventsv1.StreamOf(out.Type) != eventsv1.StreamAlerts {
			t.Fatalf("published on %s", eventsv1.StreamOf(out.Type))
		}
		v, err := h.svc.Case(sup, "AJ-70")
		if err != nil {
			t.Fatal(err)
		}
		if v.State != KindAwaitingManual || !v.AwaitingManual || v.Lead != "" || v.Attempt != 2 || v.Status != "open" ||
			!strings.Contains(v.Reason, "no department may receive") || len(v.History) != 3 || v.History[2].Kind != KindAwaitingManual ||
			!slices.Equal(v.Excluded, []ExcludedDepartment{{"rsj", GuardObjection}, {"xfj", GuardObjection}}) {
			t.Fatalf("case %+v", v)
		}
		list, err := h.svc.Cases(sup, CasesRequest{})
		if err != nil || len(list.Cases) != 1 || list.Cases[0].CaseID != "AJ-70" || list.State != KindAwaitingManual || list.Cases[0].Reason == "" {
			t.Fatalf("awaiting list %+v %v", list, err)
		}
		// Nothing more happens by itself: a further objection is ignored,
		// and the same matter registered again is linked to the case, which
		// is with the bureau within its time limits.
		h.none(envelope("AJ-70", &eventsv1.CaseObjected{Department: "zjj", WithinWindow: true}))
		if n := h.one(repeatOf(petition("AJ-71", pComplaint, "", "公司拖欠工资三个月"), "AJ-70")).GetCaseNotAccepted(); n.GetLinkedCaseId() != "AJ-70" ||
			n.GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_WITHIN_TIME_LIMIT {
			t.Fatalf("repeat of an awaiting case: %v", n)
		}

		// A manual 转办 resolves it: the objectors stay excluded, the
		// decision is the next attempt.
		if _, err := h.svc.Reroute(sup, RerouteRequest{CaseID: "AJ-70", Reason: "改由县信访局协调", Lead: "xfj"}); err == nil {
			t.Fatal("manual 转办 to an objector accepted")
		}
		r, err := h.svc.Reroute(sup, RerouteRequest{CaseID: "AJ-70", Reason: "经研判交住建局办理", Lead: "zjj"})
		if err != nil {
			t.Fatal(err)
		}
		a := h.emitted()[0].GetCaseAssigned()
		if r.Decision.Attempt != 3 || a.GetAttempt() != 3 || a.GetLeadDepartment() != "zjj" || !a.GetManual() ||
			!slices.Equal(a.ExcludedDepartments, []string{"rsj", "xfj"}) {
			t.Fatalf("manual %+v / %v", r.Decision, a)
		}
		if v, _ := h.svc.Case(sup, "AJ-70"); v.State != KindAssigned || v.AwaitingManual || v.Lead != "zjj" {
			t.Fatalf("after 转办 %+v", v)
		}
		if list, _ := h.svc.Cases(sup, CasesRequest{}); len(list.Cases) != 0 {
			t.Fatalf("still listed %+v", list)
		}

		// At the first routing: an accusation against a bureau with no
		// supervising body and no discipline body in the county.
		h.reload(smallCounty)
		out = h.one(petition("AJ-80", pAccusation, "xfj", "举报信访局干部受贿"))
		if out.GetAlertRaised().GetKind() != eventsv1.AlertKind_ALERT_KIND_ROUTING_NEEDS_STAFF {
			t.Fatalf("first routing %v", out)
		}
		v, _ = h.svc.Case(sup, "AJ-80")
		if v.State != KindAwaitingManual || v.Attempt != 0 || v.Category != "accusation" ||
			!slices.Equal(v.Excluded, []ExcludedDepartment{{"xfj", GuardAccusation}}) {
			t.Fatalf("case %+v", v)
		}
		// Imported history raises no alert; the case is listed all the same.
		imp := petition("AJ-81", pAccusation, "xfj", "举报信访局干部受贿")
		imp.Imported = true
		h.none(imp)
		if list, _ := h.svc.Cases(sup, CasesRequest{}); len(list.Cases) != 2 || list.Cases[1].CaseID != "AJ-81" {
			t.Fatalf("awaiting list %+v", list)
		}
		// The accused may not receive it by hand either; the first manual
		// decision is attempt 1.
		if _, err := h.svc.Reroute(sup, RerouteRequest{CaseID: "AJ-80", Reason: "x", Lead: "xfj"}); err == nil {
			t.Fatal("manual 转办 to the accused accepted")
		}
		r, err = h.svc.Reroute(sup, RerouteRequest{CaseID: "AJ-80", Reason: "报上级纪委前由住建局配合核查", Lead: "zjj"})
		if err != nil || r.Decision.Attempt != 1 || h.emitted()[0].GetCaseAssigned().GetAttempt() != 1 {
			t.Fatalf("manual %+v %v", r, err)
		}
	})
}

// TestServiceOfficialsOnTheEvent routes petitions that name officials
// (the registered event's respondent) and recuses one by hand.
func TestServiceOfficialsOnTheEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.reload(withPeople(t, anjiYAML(t)))
		sup := staff(t, auth.RoleSupervisor)

		// An accusation against a 住建局 member: 住建局 is excluded and
		// listed on the event, so supervision hides the case from it.
		a := h.one(petition("AJ-90", pAccusation, "王五", "举报王五受贿")).GetCaseAssigned()
		if a.GetLeadDepartment() != "jwjw" || !slices.Equal(a.ExcludedDepartments, []string{"zjj"}) {
			t.Fatalf("accusation against a member %v", a)
		}
		// A complaint about 住建局's leader: recused, the rule passed over.
		out := h.one(petition("AJ-91", pComplaint, "张建国", "小区电梯长期故障"))
		a = out.GetCaseAssigned()
		if a.GetLeadDepartment() != "xfj" || !slices.Equal(a.ExcludedDepartments, []string{"zjj"}) || len(a.Overrides) != 1 ||
			a.Overrides[0].Guard != GuardRecusal || !strings.Contains(a.Overrides[0].Note, "张建国") {
			t.Fatalf("complaint about the leader %v", a)
		}
		// The recusal is kept: after xfj objects, housing is still passed
		// over and nobody else remains but the bureau, which objected.
		h.one(envelope("AJ-91", &eventsv1.CaseObjected{Department: "xfj", WithinWindow: true}))
		if v, _ := h.svc.Case(sup, "AJ-91"); v.State != KindAwaitingManual ||
			!slices.Equal(v.Excluded, []ExcludedDepartment{{"xfj", GuardObjection}, {"zjj", GuardRecusal}}) {
			t.Fatalf("after the objection %+v", v)
		}

		// Recusal by hand: 李四 (rsj and zjj) must not handle AJ-92.
		h.one(petition("AJ-92", pComplaint, "", "公司拖欠工资"))
		_, err := h.svc.Reroute(sup, RerouteRequest{CaseID: "AJ-92", Reason: "李四与信访人有利害关系", Lead: "rsj", Recuse: []string{"李四"}})
		if err == nil || !strings.Contains(err.Error(), "李四") {
			t.Fatalf("lead of the recused official: %v", err)
		}
		if _, err := h.svc.Reroute(sup, RerouteRequest{CaseID: "AJ-92", Reason: "x", Lead: "xfj", Recuse: []string{"孙八"}}); err == nil ||
			!strings.Contains(err.Error(), "recuse[0]") {
			t.Fatalf("unknown official: %v", err)
		}
		r, err := h.svc.Reroute(sup, RerouteRequest{CaseID: "AJ-92", Reason: "李四与信访人有利害关系", Lead: "xfj", Recuse: []string{"李四"}})
		if err != nil || !slices.Equal(r.Decision.Excluded, []string{"rsj", "zjj"}) || !strings.Contains(r.Decision.Exclusions[0].Reason, "李四") {
			t.Fatalf("recusal %+v %v", r, err)
		}
		h.emitted()
		// An objection later re-routes without the recused departments.
		h.one(envelope("AJ-92", &eventsv1.CaseObjected{Department: "xfj", WithinWindow: true}))
		if v, _ := h.svc.Case(sup, "AJ-92"); !slices.Contains(v.Excluded, ExcludedDepartment{"rsj", GuardRecusal}) ||
			!slices.Contains(v.Excluded, ExcludedDepartment{"zjj", GuardRecusal}) || v.Lead == "rsj" || v.Lead == "zjj" {
			t.Fatalf("after the objection %+v", v)
		}
	})
}

// TestServiceForwardsOtherCountiesTownships: a petition about another
// county's township is forwarded without a rule.
func TestServiceForwardsOtherCountiesTownships(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		env := petition("AJ-95", pComplaint, "", "小区电梯长期故障")
		env.GetPetitionRegistered().Township = "hongxi"
		out := h.one(env)
		f := out.GetCaseForwarded()
		if f.GetDestination() != higherBureauGeneric || f.RuleId != OutOfCountyRuleID || f.RulesVersion == "" ||
			!strings.Contains(out.Reason, `township "hongxi" is not one of 安吉县's townships`) {
			t.Fatalf("forwarded %v", out)
		}
		h.reload(edit(t, anjiYAML(t), "  defaultDepartment: xfj", "  defaultDepartment: xfj\n  higherBureau: 湖州市信访局"))
		env = petition("AJ-96", pComplaint, "", "小区电梯长期故障")
		env.GetPetitionRegistered().Township = "hongxi"
		if f := h.one(env).GetCaseForwarded(); f.GetDestination() != "湖州市信访局" {
			t.Fatalf("forwarded %v", f)
		}
		if v, _ := h.svc.Case(staff(t, auth.RoleClerk), "AJ-96"); v.State != KindForwarded || v.RuleID != OutOfCountyRuleID {
			t.Fatalf("case %+v", v)
		}
	})
}
