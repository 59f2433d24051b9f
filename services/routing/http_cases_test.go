package routing

import (
	"strings"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/storetest"
)

// TestHTTPCases: GET /v1/routing/cases lists the cases awaiting a manual
// 转办 (or another state) page by page; GET /v1/routing/cases/{caseId}
// shows routing's state of one case with its decisions. Bureau roles only:
// a department could otherwise see an accusation against itself.
func TestHTTPCases(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	h := a.h
	for _, id := range []string{"AJ-1", "AJ-2", "AJ-3"} {
		h.one(petition(id, pComplaint, "", "公司拖欠工资三个月"))
		h.one(envelope(id, &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true}))
		h.one(envelope(id, &eventsv1.CaseObjected{Department: "xfj", WithinWindow: true}))
	}
	h.one(petition("AJ-4", pComplaint, "", "小区电梯长期故障"))
	clerk := token(t, "anji", auth.RoleClerk, "")

	for _, tc := range []struct {
		name, path, tok string
		code            int
	}{
		{"without token", "/v1/routing/cases", "", 401},
		{"by a department", "/v1/routing/cases", token(t, "anji", auth.RoleDepartment, "zjj"), 403},
		{"one case by a department", "/v1/routing/cases/AJ-4", token(t, "anji", auth.RoleDepartment, "zjj"), 403},
		{"by a leader", "/v1/routing/cases", token(t, "anji", auth.RoleLeader, ""), 200},
		{"unknown state", "/v1/routing/cases?state=lost", clerk, 400},
		{"limit too large", "/v1/routing/cases?limit=1001", clerk, 400},
		{"limit not a number", "/v1/routing/cases?limit=ten", clerk, 400},
		{"unknown case", "/v1/routing/cases/AJ-404", clerk, 404},
	} {
		if code, out := a.call("GET", tc.path, tc.tok, nil); code != tc.code {
			t.Errorf("%s: %d %v, want %d", tc.name, code, out, tc.code)
		}
	}

	// Awaiting manual routing, two per page.
	code, out := a.call("GET", "/v1/routing/cases?limit=2", clerk, nil)
	if code != 200 || out["state"] != "awaiting-manual" || get(out, "cases", 0, "caseId") != "AJ-1" || get(out, "cases", 1, "caseId") != "AJ-2" ||
		out["next"] != "AJ-2" || get(out, "cases", 0, "excluded", 1, "department") != "xfj" || get(out, "cases", 0, "attempt") != 2.0 ||
		!strings.Contains(get(out, "cases", 0, "reason").(string), "no department may receive") {
		t.Fatalf("page 1: %d %v", code, out)
	}
	code, out = a.call("GET", "/v1/routing/cases?limit=2&after=AJ-2", clerk, nil)
	if cases, _ := out["cases"].([]any); code != 200 || len(cases) != 1 || get(cases, 0, "caseId") != "AJ-3" || out["next"] != nil {
		t.Fatalf("page 2: %d %v", code, out)
	}
	code, out = a.call("GET", "/v1/routing/cases?state=assigned", clerk, nil)
	if cases, _ := out["cases"].([]any); code != 200 || len(cases) != 1 || get(cases, 0, "lead") != "zjj" {
		t.Fatalf("assigned: %d %v", code, out)
	}

	code, out = a.call("GET", "/v1/routing/cases/AJ-1", clerk, nil)
	if code != 200 || out["awaitingManual"] != true || out["state"] != "awaiting-manual" || out["status"] != "open" ||
		get(out, "history", 0, "kind") != "assigned" || get(out, "history", 0, "decision", "lead") != "rsj" ||
		get(out, "history", 2, "kind") != "awaiting-manual" || get(out, "history", 2, "decision", "exclusions", 0, "guard") != "objection" {
		t.Fatalf("case: %d %v", code, out)
	}

	// The manual 转办 takes it off the list.
	sup := token(t, "anji", auth.RoleSupervisor, "xfj")
	if code, out := a.call("POST", "/v1/cases/AJ-1/reroute", sup, map[string]any{"reason": "交住建局", "lead": "zjj"}); code != 200 {
		t.Fatalf("reroute: %d %v", code, out)
	}
	code, out = a.call("GET", "/v1/routing/cases", clerk, nil)
	if cases, _ := out["cases"].([]any); code != 200 || len(cases) != 2 || get(cases, 0, "caseId") != "AJ-2" {
		t.Fatalf("after 转办: %d %v", code, out)
	}
}

// clerkLetter is a petition as a clerk POSTs it to intake
// (docs/api/intake.md), personal data and all.
func clerkLetter() map[string]any {
	return map[string]any{
		"channel":     "letter",
		"petitioners": []any{map[string]any{"name": "王五", "idNumber": "330523197506151235", "phone": "13812345678", "address": "安吉县递铺街道文昌路8号"}},
		"personCount": 1,
		"township":    "dipu",
		"title":       "拖欠工资",
		"content":     map[string]any{"request": "请求责令支付拖欠工资", "facts": "某服装公司拖欠三个月工资共计一万二千元", "reasons": "劳动者有权按时获得劳动报酬"},
		"category":    "申诉求决",
		"respondent":  "县人力资源和社会保障局",
		"receivedAt":  "2026-02-27",
	}
}

// TestHTTPPreviewIntakeShape: the preview takes the body intake takes, so
// provincial IT can try a county's rules on real registrations.
func TestHTTPPreviewIntakeShape(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	sup := token(t, "anji", auth.RoleSupervisor, "")

	code, out := a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": clerkLetter()})
	if code != 200 || out["petitionShape"] != "intake" || get(out, "decision", "lead") != "rsj" || get(out, "decision", "ruleId") != "wages-social-insurance" ||
		get(out, "input", "categoryHint") != "complaint" || get(out, "input", "channel") != "letter" || get(out, "input", "request") != "请求责令支付拖欠工资" ||
		get(out, "input", "respondent") != "县人力资源和社会保障局" || get(out, "input", "personCount") != 1.0 {
		t.Fatalf("intake shape: %d %v", code, out)
	}
	// Nothing of the petitioners is echoed.
	if raw := strings.Join(flatten(out), " "); strings.Contains(raw, "330523197506151235") || strings.Contains(raw, "13812345678") || strings.Contains(raw, "文昌路") {
		t.Fatalf("personal data in the answer: %v", out)
	}

	// A group visit of 30 (Art. 20) and an accusation by its Chinese name.
	body := clerkLetter()
	body["channel"], body["personCount"] = "VISIT", 30
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": body})
	if code != 200 || get(out, "decision", "ruleId") != "group-visit" || get(out, "decision", "mode") != "assign" || get(out, "input", "group") != true {
		t.Fatalf("group visit: %d %v", code, out)
	}
	body = clerkLetter()
	body["category"], body["respondent"], body["content"] = "检举控告", "zjj", map[string]any{"request": "查处", "facts": "县住建局干部收受开发商财物，涉嫌受贿", "reasons": "违纪"}
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": body})
	if code != 200 || get(out, "decision", "lead") != "jwjw" || get(out, "decision", "excludedDepartments", 0) != "zjj" ||
		get(out, "decision", "exclusions", 0, "guard") != "accusation" {
		t.Fatalf("accusation: %d %v", code, out)
	}
	// The flat shape still works and says so.
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": map[string]any{"categoryHint": "complaint", "request": "小区物业乱收费"}})
	if code != 200 || out["petitionShape"] != "routing" || get(out, "decision", "lead") != "zjj" {
		t.Fatalf("flat shape: %d %v", code, out)
	}
	// Recusal and every candidate excluded.
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{
		"petition": map[string]any{"categoryHint": "complaint", "request": "公司拖欠工资"}, "excluded": map[string]any{"rsj": "recusal", "xfj": "objection"}})
	if code != 200 || get(out, "decision", "kind") != "awaiting-manual" || get(out, "decision", "lead") != nil {
		t.Fatalf("nobody left: %d %v", code, out)
	}

	for name, tc := range map[string]struct {
		body  any
		field string
	}{
		"mixed shapes":     {map[string]any{"petition": map[string]any{"content": map[string]any{"request": "x"}, "request": "y"}}, "petition"},
		"intake channel":   {map[string]any{"petition": map[string]any{"channel": "pigeon", "title": "x", "content": map[string]any{"request": "x"}}}, "petition.channel"},
		"intake category":  {map[string]any{"petition": map[string]any{"channel": "web", "category": "投诉", "content": map[string]any{"request": "x"}}}, "petition.category"},
		"unknown field":    {map[string]any{"petition": map[string]any{"channel": "web", "content": map[string]any{"request": "x", "demand": "y"}}}, "petition"},
		"not an object":    {map[string]any{"petition": "小区物业乱收费"}, "petition"},
		"missing":          {map[string]any{"rules": nil}, "petition"},
		"unknown official": {map[string]any{"petition": map[string]any{"request": "x"}, "recuse": []string{"孙八"}}, "recuse[0]"},
		"negative persons": {map[string]any{"petition": map[string]any{"channel": "web", "personCount": -1, "content": map[string]any{"request": "x"}}}, "petition.personCount"},
	} {
		if code, out := a.call("POST", "/v1/routing/preview", sup, tc.body); code != 400 || get(out, "fields", tc.field) == nil {
			t.Errorf("%s: %d %v, want 400 at %s", name, code, out, tc.field)
		}
	}
}

// flatten lists every string in a decoded JSON value.
func flatten(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(append(out, k), flatten(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}
