package supervision

import (
	"context"
	"slices"
	"strings"
	"testing"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/supervision/casemachine"
)

// The department's 不予受理 and the petitioner's withdrawal: transitions with
// their events, history, authorization and timers.

func timerRows(t *testing.T, h *harness, caseID string) int {
	t.Helper()
	var n int
	if err := h.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM supervision_timers WHERE case_id = ? AND fired_at IS NULL`, caseID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func historyTypes(v *CaseView) []string {
	var out []string
	for _, e := range v.History {
		out = append(out, e.Type)
	}
	return out
}

func TestDepartmentDeclines(t *testing.T) { each(t, testDepartmentDeclines) }

func testDepartmentDeclines(t *testing.T, h *harness) {
	rsj, zjj := dept("rsj"), dept("zjj")
	h.set("2026-03-02 09:00")
	h.assign("d1", "rsj", coDepartments("zjj"))
	if timerRows(t, h, "d1") == 0 {
		t.Fatal("an assigned case has no timers")
	}
	h.set("2026-03-05 10:00")
	decline := casemachine.Command{Action: casemachine.ActDecline, NotAcceptedReason: "legal-channel", LegalChannel: "arbitration",
		Guidance: "请于劳动争议发生之日起一年内向安吉县劳动人事争议仲裁委员会申请仲裁。", Reason: "该事项属于劳动争议，应当通过劳动仲裁解决"}

	// Who: the lead's staff or a supervisor; a co-department sees the case
	// but does not decide on it, the leader neither.
	_, err := h.try(zjj, "d1", decline)
	wantKind(t, err, apierror.Forbidden)
	_, err = h.try(leader, "d1", decline)
	wantKind(t, err, apierror.Forbidden)
	_, err = h.try(dept("fy"), "d1", decline)
	wantKind(t, err, apierror.NotFound)

	// What: a statutory reason, the reason in words, and for a legal
	// channel the procedure and the guidance.
	for _, tc := range []struct {
		name  string
		cmd   func(c *casemachine.Command)
		field string
	}{
		{"no reason", func(c *casemachine.Command) { c.NotAcceptedReason = "" }, "notAcceptedReason"},
		{"unknown reason", func(c *casemachine.Command) { c.NotAcceptedReason = "busy" }, "notAcceptedReason"},
		{"no words", func(c *casemachine.Command) { c.Reason = " " }, "reason"},
		{"no channel", func(c *casemachine.Command) { c.LegalChannel = "" }, "legalChannel"},
		{"no guidance", func(c *casemachine.Command) { c.Guidance = "" }, "guidance"},
		{"channel without legal-channel", func(c *casemachine.Command) { c.NotAcceptedReason = "out-of-scope" }, "legalChannel"},
		{"notified before the assignment", func(c *casemachine.Command) { c.NotifiedOn = date("2026-03-01") }, "notifiedOn"},
	} {
		cmd := decline
		tc.cmd(&cmd)
		_, err := h.try(rsj, "d1", cmd)
		if ae := wantKind(t, err, apierror.Validation); ae.Fields[tc.field] == "" {
			t.Errorf("%s: fields %v, want one on %s", tc.name, ae.Fields, tc.field)
		}
	}
	h.expect()

	r := h.act(rsj, "d1", decline)
	h.expect("2026-03-05 declined rsj LEGAL_CHANNEL art=31 notified=2026-03-05 channel=ARBITRATION", "2026-03-05 closed ROUTED_OUT")
	if len(r.Events) != 2 || r.Events[0].Type != "case.declined" || r.Case.State != casemachine.StateClosed {
		t.Fatalf("decline result %+v", r)
	}
	v := h.get("d1")
	if v.CloseReason != casemachine.CloseDeclined || len(v.Actions) != 0 ||
		!slices.Equal(historyTypes(v), []string{"case.assigned", "case.declined", "case.closed"}) ||
		v.History[1].Reason != decline.Reason {
		t.Fatalf("declined case: %s %v %v", v.CloseReason, v.Actions, historyTypes(v))
	}
	if d := deadline(v, casemachine.ClockAcknowledge); d.Status != "met" || d.Ended != date("2026-03-05") {
		t.Fatalf("the decision is the Art. 23 notice: %+v", d)
	}
	if n := timerRows(t, h, "d1"); n != 0 {
		t.Fatalf("a declined case keeps %d timers", n)
	}
	// The department's written notice, in its name, with the procedure.
	doc, err := h.svc.Document(as(rsj), "d1", "non-acceptance-notice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"不予受理告知书", "安吉县人力资源和社会保障局", "应当通过劳动仲裁解决", "第二十三条、第31条", "仲裁途径", "劳动人事争议仲裁委员会"} {
		if !strings.Contains(doc, want) {
			t.Errorf("notice lacks %q:\n%s", want, doc)
		}
	}
	// A decision cannot be taken twice, nor on a case already acknowledged.
	_, err = h.try(rsj, "d1", decline)
	wantKind(t, err, apierror.IllegalTransition)
	h.assign("d2", "rsj")
	h.act(rsj, "d2", ack)
	_, err = h.try(rsj, "d2", decline)
	if ae := wantKind(t, err, apierror.IllegalTransition); ae.Details["state"] != "acknowledged" {
		t.Fatalf("decline after acknowledging: %v", ae)
	}
	h.events()

	// The bureau disagrees and re-routes: the case opens again.
	h.set("2026-03-06 09:00")
	if err := h.svc.ApplyRouting(context.Background(), assigned("d1", "zjj", h.clock.Now(), attempt(2))); err != nil {
		t.Fatal(err)
	}
	if v := h.get("d1"); v.State != casemachine.StateAssigned || v.Department != "zjj" || v.CloseReason != "" {
		t.Fatalf("re-routed after the decline: %s %s %q", v.State, v.Department, v.CloseReason)
	}
	// A supervisor records a department's paper decision; the article
	// defaults from the reason.
	h.assign("d3", "rsj")
	h.act(supervisor, "d3", casemachine.Command{Action: casemachine.ActDecline, NotAcceptedReason: "within-time-limit",
		LinkedCaseID: "d2", Reason: "同一事项正在办理期限内"})
	h.expect("2026-03-06 declined rsj WITHIN_TIME_LIMIT art=19(3) notified=2026-03-06", "2026-03-06 closed ROUTED_OUT")
}

func TestPetitionerWithdraws(t *testing.T) { each(t, testPetitionerWithdraws) }

func testPetitionerWithdraws(t *testing.T, h *harness) {
	rsj, zjj := dept("rsj"), dept("zjj")
	h.set("2026-03-02 09:00")
	h.assign("w1", "rsj", coDepartments("zjj"))
	h.act(rsj, "w1", ack)
	h.act(rsj, "w1", accept)
	h.events()
	withdraw := casemachine.Command{Action: casemachine.ActWithdraw, Reason: "信访人书面申请撤回：已与单位协商解决"}

	_, err := h.try(zjj, "w1", withdraw)
	wantKind(t, err, apierror.Forbidden)
	_, err = h.try(rsj, "w1", casemachine.Command{Action: casemachine.ActWithdraw})
	if ae := wantKind(t, err, apierror.Validation); ae.Fields["reason"] == "" {
		t.Fatalf("withdrawal without a reason: %v", ae)
	}
	h.set("2026-03-20 15:00")
	h.act(rsj, "w1", withdraw)
	h.expect("2026-03-20 closed WITHDRAWN")
	v := h.get("w1")
	if v.State != casemachine.StateClosed || v.CloseReason != casemachine.CloseWithdrawn ||
		deadline(v, casemachine.ClockHandling).Status != "stopped" || v.History[len(v.History)-1].Reason != withdraw.Reason {
		t.Fatalf("withdrawn case %+v", v)
	}
	if n := timerRows(t, h, "w1"); n != 0 {
		t.Fatalf("a withdrawn case keeps %d timers", n)
	}
	// Nothing follows: no reminder, no breach, no 督办.
	h.advance("2026-12-31 00:00")
	h.expect()
	_, err = h.try(rsj, "w1", withdraw)
	wantKind(t, err, apierror.IllegalTransition)
	// A withdrawn case is not re-routed (it is not routed out).
	if err := h.svc.ApplyRouting(context.Background(), assigned("w1", "zjj", h.clock.Now(), attempt(2))); err == nil {
		t.Fatal("re-routing a withdrawn case was accepted")
	}

	// The withdrawal of a pending review, recorded by the reviewing body.
	h.set("2026-06-01 09:00")
	h.assign("w2", "rsj")
	for _, c := range []casemachine.Command{ack, accept, reply("not-supported"), serve("in-person", ""),
		request(casemachine.ActRequestReview, "gov-dipu")} {
		h.act(rsj, "w2", c)
	}
	h.events()
	h.set("2026-06-08 09:00")
	h.act(dept("gov-dipu"), "w2", withdraw)
	h.expect("2026-06-08 closed WITHDRAWN")

	// While routing has the case back after an objection, no withdrawal.
	h.set("2026-07-09 09:00")
	h.assign("w3", "rsj")
	h.act(rsj, "w3", casemachine.Command{Action: casemachine.ActObject, Reason: "不属于本单位职责"})
	_, err = h.try(supervisor, "w3", withdraw)
	if ae := wantKind(t, err, apierror.IllegalTransition); ae.Details["state"] != "objected" {
		t.Fatalf("withdrawal of an objected case: %v", ae)
	}
}

func TestDeclineAndWithdrawOverHTTP(t *testing.T) { each(t, testDeclineAndWithdrawOverHTTP) }

func testDeclineAndWithdrawOverHTTP(t *testing.T, h *harness) {
	a := newAPI(t, h)
	rsj := dept("rsj")
	h.set("2026-03-02 09:00")
	h.assign("h1", "rsj")
	h.assign("h2", "rsj")
	h.events()
	if code, body := a.do(rsj, "POST", "/v1/cases/h1/decline", `{"notAcceptedReason":"final","reason":"x","days":3}`); code != 400 || !strings.Contains(body["message"].(string), "days") {
		t.Fatalf("a field of another action: %d %v", code, body)
	}
	if code, body := a.do(rsj, "POST", "/v1/cases/h1/decline", `{"notAcceptedReason":"final"}`); code != 400 || body["error"] != "validation" ||
		body["fields"].(map[string]any)["reason"] == nil {
		t.Fatalf("decline without a reason: %d %v", code, body)
	}
	code, body := a.do(rsj, "POST", "/v1/cases/h1/decline",
		`{"notAcceptedReason":"final","linkedCaseId":"330523-0001","notifiedOn":"2026-03-02","reason":"同一事实和理由已复核终结"}`)
	if code != 200 || body["case"].(map[string]any)["state"] != "closed" || len(body["events"].([]any)) != 2 {
		t.Fatalf("decline: %d %v", code, body)
	}
	h.expect("2026-03-02 declined rsj FINAL art=36(3) notified=2026-03-02", "2026-03-02 closed ROUTED_OUT")
	if code, body := a.do(rsj, "POST", "/v1/cases/h2/withdraw", `{"reason":"信访人撤回"}`); code != 200 || body["case"].(map[string]any)["closeReason"] != "withdrawn" {
		t.Fatalf("withdraw: %d %v", code, body)
	}
	h.expect("2026-03-02 closed WITHDRAWN")
}
