package routing

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

var testSecret = []byte("routing-test-secret-0123456789abcdef")

func token(t *testing.T, county string, role auth.Role, dept string) string {
	t.Helper()
	s, err := auth.Sign(testSecret, auth.Claims{County: county, Role: role, Department: dept,
		RegisteredClaims: jwt.RegisteredClaims{Subject: string(role) + "-7"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type api struct {
	t    *testing.T
	h    *harness
	base string
}

func newAPI(t *testing.T, db *store.DB) *api {
	h := newHarness(t, db)
	mux := http.NewServeMux()
	RegisterHTTP(mux, MakeEndpoints(h.svc, nil, nil), auth.NewVerifier("anji", auth.HMACKey(testSecret), ""), nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &api{t: t, h: h, base: srv.URL}
}

// call sends body (a string is sent as is, anything else as JSON) and
// decodes the JSON answer.
func (a *api) call(method, path, tok string, body any) (int, map[string]any) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// get walks a decoded JSON value: get(m, "decision", "lead").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func TestHTTPAuth(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	preview := map[string]any{"petition": map[string]any{"categoryHint": "complaint", "request": "小区物业乱收费"}}
	for _, tc := range []struct {
		name, method, path, tok string
		body                    any
		code                    int
	}{
		{"preview without token", "POST", "/v1/routing/preview", "", preview, 401},
		{"preview with a bad token", "POST", "/v1/routing/preview", "not-a-jwt", preview, 401},
		{"preview by a clerk", "POST", "/v1/routing/preview", token(t, "anji", auth.RoleClerk, ""), preview, 403},
		{"preview by a department", "POST", "/v1/routing/preview", token(t, "anji", auth.RoleDepartment, "zjj"), preview, 403},
		{"preview with another county's token", "POST", "/v1/routing/preview", token(t, "changxing", auth.RoleSupervisor, ""), preview, 403},
		{"preview by a supervisor", "POST", "/v1/routing/preview", token(t, "anji", auth.RoleSupervisor, ""), preview, 200},
		{"preview by an admin", "POST", "/v1/routing/preview", token(t, "anji", auth.RoleAdmin, ""), preview, 200},
		{"rules without token", "GET", "/v1/routing/rules", "", nil, 401},
		{"rules by a department", "GET", "/v1/routing/rules", token(t, "anji", auth.RoleDepartment, "zjj"), nil, 200},
		{"reroute without token", "POST", "/v1/cases/AJ-1/reroute", "", map[string]any{"reason": "x", "lead": "zjj"}, 401},
		{"reroute by a department", "POST", "/v1/cases/AJ-1/reroute", token(t, "anji", auth.RoleDepartment, "rsj"), map[string]any{"reason": "x", "lead": "zjj"}, 403},
		{"reroute by a leader", "POST", "/v1/cases/AJ-1/reroute", token(t, "anji", auth.RoleLeader, ""), map[string]any{"reason": "x", "lead": "zjj"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.call(tc.method, tc.path, tc.tok, tc.body)
			if code != tc.code {
				t.Fatalf("%d %v, want %d", code, body, tc.code)
			}
		})
	}
}

func TestHTTPPreviewLiveRules(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	sup := token(t, "anji", auth.RoleSupervisor, "")
	code, out := a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": map[string]any{
		"categoryHint": "accusation", "respondent": "xfj", "channel": "visit", "group": true, "request": "集体控告信访局接访人员",
	}})
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	if get(out, "rulesSource") != "live" || get(out, "rulesVersion") != a.h.watcher.Current().Version || get(out, "county") != "anji" {
		t.Fatalf("source %v", out)
	}
	if get(out, "decision", "kind") != "assigned" || get(out, "decision", "lead") != "jwjw" || get(out, "decision", "mode") != "assign" ||
		get(out, "decision", "overrides", 0, "guard") != "accusation" || get(out, "matchedRule", "id") != "group-visit" {
		t.Fatalf("decision %v", out)
	}
	rules, _ := get(out, "rules").([]any)
	if len(rules) != 7 {
		t.Fatalf("%d rules traced, want the 6 before group-visit and group-visit itself: %v", len(rules), rules)
	}
	if get(rules[0], "id") != "accusation-against-jwjw" || get(rules[0], "matched") != false ||
		!strings.Contains(get(rules[0], "reasons", 0).(string), "respondent xfj is not one of [jwjw]") {
		t.Fatalf("first rule %v", rules[0])
	}
	if get(rules[6], "matched") != true || !strings.Contains(get(rules[6], "overridden").(string), "replaced by supervising body jwjw") {
		t.Fatalf("matched rule %v", rules[6])
	}
	// Nothing was decided for real.
	if ev := a.h.emitted(); len(ev) != 0 {
		t.Fatalf("preview emitted %v", ev)
	}

	// A simulated objection, and a routing date.
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{
		"petition":    map[string]any{"categoryHint": "complaint", "request": "小区物业乱收费"},
		"excluded":    map[string]any{"zjj": "objection"},
		"routingDate": "2026-09-25",
	})
	if code != 200 || get(out, "decision", "lead") != "xfj" || get(out, "decision", "acknowledgeDue") != "2026-10-08" || get(out, "matchedRule") != nil {
		t.Fatalf("%d %v", code, out)
	}

	// A repeat of an open case, looked up in routing's state.
	a.h.one(petition("AJ-1", pComplaint, "", "小区物业乱收费"))
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": map[string]any{"request": "小区物业乱收费", "repeatOf": "AJ-1"}})
	if code != 200 || get(out, "decision", "notAcceptedReason") != "within-time-limit" || get(out, "decision", "linkedCaseId") != "AJ-1" ||
		get(out, "decision", "article") != "19(3)" || get(out, "repeat", "state") != "open" {
		t.Fatalf("%d %v", code, out)
	}

	// Bad input.
	for _, body := range []string{
		`{"petition": {"channel": "pigeon"}}`,
		`{"petition": {}, "excluded": {"zjj": "dislike"}}`,
		`{"petition": {}, "routingDate": "2026-02-30"}`,
		`{"petition": {}, "unknown": 1}`,
		`{"petition": `,
	} {
		if code, out := a.call("POST", "/v1/routing/preview", sup, body); code != 400 {
			t.Errorf("%s: %d %v", body, code, out)
		}
	}
}

func TestHTTPPreviewRulesDocument(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	sup := token(t, "anji", auth.RoleSupervisor, "")
	pet := map[string]any{"categoryHint": "complaint", "request": "小区物业乱收费"}

	// A County manifest of a county being onboarded, as YAML text.
	manifest := edit(t, edit(t, anjiYAML(t), "name: anji", "name: anji-next"), "assign: {lead: zjj}", "assign: {lead: gov-dipu}")
	code, out := a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": pet, "rules": manifest})
	if code != 200 || get(out, "rulesSource") != "request" || get(out, "county") != "anji-next" || get(out, "decision", "lead") != "gov-dipu" ||
		get(out, "rulesVersion") == a.h.watcher.Current().Version {
		t.Fatalf("manifest: %d %v", code, out)
	}

	// A bare spec without id, as a JSON object: read as this county's.
	spec := map[string]any{
		"displayName": "测试县", "divisionCode": "330599", "defaultDepartment": "xfj",
		"departments": []any{
			map[string]any{"id": "xfj", "name": "信访局", "categories": []string{"complaint", "suggestion", "accusation"}},
			map[string]any{"id": "wy", "name": "物业办", "categories": []string{"complaint"}},
		},
		"routingRules": []any{map[string]any{"id": "property", "match": map[string]any{"keywords": map[string]any{"any": []string{"物业"}}}, "assign": map[string]any{"lead": "wy"}}},
	}
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": pet, "rules": spec})
	if code != 200 || get(out, "county") != "anji" || get(out, "decision", "lead") != "wy" || get(out, "decision", "ruleId") != "property" {
		t.Fatalf("bare spec: %d %v", code, out)
	}

	// Invalid documents: every problem with its path.
	bad := edit(t, anjiYAML(t), "assign: {lead: zjj}", "assign: {lead: fgw}")
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": pet, "rules": bad})
	if code != 400 || !strings.Contains(get(out, "fields", "rules.routingRules[12].assign.lead").(string), `department "fgw" is not defined`) {
		t.Fatalf("unknown department: %d %v", code, out)
	}
	cycle := edit(t, anjiYAML(t), "      categories: [accusation]\n    - id: jyj", "      categories: [accusation]\n      supervisingBody: jwjw\n    - id: jyj")
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": pet, "rules": cycle})
	if code != 400 || !strings.Contains(out["message"].(string), "cycle") {
		t.Fatalf("cycle: %d %v", code, out)
	}
	code, out = a.call("POST", "/v1/routing/preview", sup, map[string]any{"petition": pet, "rules": "{not yaml: ["})
	if code != 400 || get(out, "fields", "rules") == nil {
		t.Fatalf("syntax: %d %v", code, out)
	}
}

func TestHTTPRules(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	code, out := a.call("GET", "/v1/routing/rules", token(t, "anji", auth.RoleClerk, ""), nil)
	rules, _ := out["routingRules"].([]any)
	if code != 200 || out["version"] != a.h.watcher.Current().Version || out["defaultDepartment"] != "xfj" || out["acknowledgeDays"] != 10.0 ||
		len(rules) != 15 || get(rules, 0, "id") != "accusation-against-jwjw" || out["rejected"] != nil {
		t.Fatalf("%d %v", code, out)
	}
	// A rejected edit is reported; the rules in force stay.
	writeCountyFile(t, strings.TrimSuffix(a.h.path, "/county.yaml"), edit(t, anjiYAML(t), "assign: {lead: zjj}", "assign: {lead: fgw}"))
	if _, err := a.h.watcher.Poll(); err == nil {
		t.Fatal("invalid file accepted")
	}
	_, out = a.call("GET", "/v1/routing/rules", token(t, "anji", auth.RoleClerk, ""), nil)
	if out["version"] != a.h.watcher.Current().Version || !strings.Contains(out["rejected"].(string), "fgw") {
		t.Fatalf("after a rejected edit: %v", out)
	}
}

func TestHTTPReroute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPI(t, db)
		sup := token(t, "anji", auth.RoleSupervisor, "xfj")
		a.h.one(petition("AJ-1", pAccusation, "zjj", "举报住建局干部受贿"))
		a.h.one(petition("AJ-2", pComplaint, "", "公司拖欠工资"))
		a.h.none(envelope("AJ-2", &eventsv1.CaseFinal{Article: "36(3)"}))

		for _, tc := range []struct {
			name, path string
			body       any
			code       int
			field      string
		}{
			{"reason missing", "/v1/cases/AJ-1/reroute", map[string]any{"reason": " ", "lead": "xfj"}, 400, "reason"},
			{"lead missing", "/v1/cases/AJ-1/reroute", map[string]any{"reason": "交县信访局统筹"}, 400, "lead"},
			{"to the accused", "/v1/cases/AJ-1/reroute", map[string]any{"reason": "改由住建局自查", "lead": "zjj"}, 400, "lead"},
			{"accused as co-department", "/v1/cases/AJ-1/reroute", map[string]any{"reason": "协办", "lead": "xfj", "co": []string{"zjj"}}, 400, "co[0]"},
			{"unknown department", "/v1/cases/AJ-1/reroute", map[string]any{"reason": "x", "lead": "fgw"}, 400, "lead"},
			{"recusing the lead itself", "/v1/cases/AJ-1/reroute", map[string]any{"reason": "x", "lead": "xfj", "exclude": []string{"xfj"}}, 400, "lead"},
			{"unknown case", "/v1/cases/AJ-404/reroute", map[string]any{"reason": "x", "lead": "xfj"}, 404, ""},
			{"final case", "/v1/cases/AJ-2/reroute", map[string]any{"reason": "x", "lead": "xfj"}, 409, ""},
		} {
			code, out := a.call("POST", tc.path, sup, tc.body)
			if code != tc.code || (tc.field != "" && get(out, "fields", tc.field) == nil) {
				t.Errorf("%s: %d %v", tc.name, code, out)
			}
		}
		if ev := a.h.emitted(); len(ev) != 0 {
			t.Fatalf("refused re-routings emitted %v", ev)
		}

		code, out := a.call("POST", "/v1/cases/AJ-1/reroute", sup, map[string]any{
			"reason": "经研判由县信访局牵头、市场监管局协办", "lead": "xfj", "co": []string{"scjgj"}, "exclude": []string{"gaj"},
		})
		if code != 200 || get(out, "decision", "lead") != "xfj" || get(out, "decision", "manual") != true || get(out, "decision", "attempt") != 2.0 {
			t.Fatalf("%d %v", code, out)
		}
		ev := a.h.emitted()
		if len(ev) != 1 {
			t.Fatalf("emitted %d events", len(ev))
		}
		e, as := ev[0], ev[0].GetCaseAssigned()
		if e.Type != "case.assigned" || e.EventId != out["eventId"] || e.Reason != "经研判由县信访局牵头、市场监管局协办" ||
			e.Actor.GetKind() != eventsv1.ActorKind_ACTOR_KIND_BUREAU || e.Actor.GetId() != "supervisor-7" || e.Actor.GetRole() != "supervisor" ||
			!as.Manual || as.Attempt != 2 || as.LeadDepartment != "xfj" || as.CoDepartments[0] != "scjgj" || as.RuleId != ManualRuleID ||
			as.Mode != eventsv1.AssignMode_ASSIGN_MODE_ASSIGN || strings.Join(as.ExcludedDepartments, ",") != "gaj,zjj" || as.AcknowledgeDue != "2026-03-12" {
			t.Fatalf("event %v", e)
		}
		// Audited.
		var n int
		if err := db.QueryRow(t.Context(), `SELECT COUNT(*) FROM routing_decisions WHERE case_id = ? AND manual = 1 AND actor = ?`, "AJ-1", "supervisor-7").Scan(&n); err != nil || n != 1 {
			t.Fatalf("audit rows %d, %v", n, err)
		}
		// The recusal sticks: an objection-driven re-routing never picks gaj.
		code, out = a.call("POST", "/v1/cases/AJ-1/reroute", sup, map[string]any{"reason": "改交公安", "lead": "gaj"})
		if code != 400 || !strings.Contains(get(out, "fields", "lead").(string), "recused") {
			t.Fatalf("recused department: %d %v", code, out)
		}
	})
}
