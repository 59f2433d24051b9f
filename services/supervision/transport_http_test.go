package supervision

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

type api struct {
	t   *testing.T
	url string
}

func newAPI(t *testing.T, h *harness) *api {
	t.Helper()
	mux := http.NewServeMux()
	v := auth.NewVerifier("anji", auth.HMACKey(testSecret), "")
	RegisterHTTP(mux, MakeEndpoints(h.svc).Instrument(nil, nil), v.Middleware, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &api{t: t, url: srv.URL}
}

func token(t *testing.T, c *auth.Claims) string {
	t.Helper()
	if c == nil {
		return ""
	}
	s, err := auth.Sign(testSecret, *c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do calls the API as c (nil: no token) and decodes the JSON answer.
func (a *api) do(c *auth.Claims, method, path, body string) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.url+path, rd)
	if c != nil {
		req.Header.Set("Authorization", "Bearer "+token(a.t, c))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

func caseIDs(list map[string]any) []string {
	var ids []string
	for _, c := range list["cases"].([]any) {
		ids = append(ids, c.(map[string]any)["caseId"].(string))
	}
	slices.Sort(ids)
	return ids
}

func TestAuthorization(t *testing.T) { each(t, testAuthorization) }

func testAuthorization(t *testing.T, h *harness) {
	a := newAPI(t, h)
	h.set("2026-03-02 09:00")
	h.assign("rsj-case", "rsj", coDepartments("zjj"))
	h.assign("zjj-case", "zjj")
	// An accusation against the 住建局 goes to the discipline body; routing
	// excludes the accused. One against the 人社局 that a bad rule also made
	// a co-department: the respondent filter still hides it.
	acc := eventsv1.Category_CATEGORY_ACCUSATION
	h.assign("acc-zjj", "jwjw", category(acc), excluded("zjj"))
	h.assign("acc-rsj", "jwjw", category(acc), coDepartments("rsj"), excluded("rsj"))

	rsj, zjj, jwjw := dept("rsj"), dept("zjj"), dept("jwjw")

	// No token, a clerk, another county.
	if code, _ := a.do(nil, "GET", "/v1/cases", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := a.do(claims(auth.RoleClerk, ""), "GET", "/v1/cases", ""); code != 403 {
		t.Fatalf("clerk: %d", code)
	}
	other := dept("rsj")
	other.County = "changxing"
	if code, _ := a.do(other, "GET", "/v1/cases/rsj-case", ""); code != 403 {
		t.Fatalf("another county's token: %d", code)
	}

	// Lists: a department sees its own cases and those it assists in, never
	// an accusation against itself; the bureau sees all.
	for _, tc := range []struct {
		who  *auth.Claims
		want []string
	}{
		{rsj, []string{"rsj-case"}},
		{zjj, []string{"rsj-case", "zjj-case"}},
		{jwjw, []string{"acc-rsj", "acc-zjj"}},
		{supervisor, []string{"acc-rsj", "acc-zjj", "rsj-case", "zjj-case"}},
		{leader, []string{"acc-rsj", "acc-zjj", "rsj-case", "zjj-case"}},
	} {
		code, body := a.do(tc.who, "GET", "/v1/cases", "")
		if code != 200 || !slices.Equal(caseIDs(body), tc.want) {
			t.Errorf("%s/%s lists %d %v, want %v", tc.who.Role, tc.who.Department, code, body["cases"], tc.want)
		}
	}
	if code, _ := a.do(rsj, "GET", "/v1/cases?department=zjj", ""); code != 403 {
		t.Fatalf("rsj listing zjj's cases: %d", code)
	}
	if code, body := a.do(supervisor, "GET", "/v1/cases?department=zjj&state=assigned", ""); code != 200 || !slices.Equal(caseIDs(body), []string{"zjj-case"}) {
		t.Fatalf("supervisor filter: %d %v", code, body)
	}
	if code, body := a.do(supervisor, "GET", "/v1/cases?state=nonsense&overdue=maybe", ""); code != 400 || body["fields"] == nil {
		t.Fatalf("bad filters: %d %v", code, body)
	}

	// Reading and acting on another department's case, or on an accusation
	// against oneself: not found (its existence is not disclosed either).
	for _, tc := range []struct {
		who    *auth.Claims
		caseID string
	}{{rsj, "zjj-case"}, {zjj, "acc-zjj"}, {rsj, "acc-rsj"}, {jwjw, "rsj-case"}} {
		if code, _ := a.do(tc.who, "GET", "/v1/cases/"+tc.caseID, ""); code != 404 {
			t.Errorf("%s reads %s: %d", tc.who.Department, tc.caseID, code)
		}
		if code, _ := a.do(tc.who, "POST", "/v1/cases/"+tc.caseID+"/acknowledge", ""); code != 404 {
			t.Errorf("%s acknowledges %s: %d", tc.who.Department, tc.caseID, code)
		}
	}
	if code, _ := a.do(rsj, "GET", "/v1/cases/no-such-case", ""); code != 404 {
		t.Fatal("missing case")
	}
	// A co-department reads but does not act; a leader reads, flags, does
	// not handle.
	if code, body := a.do(zjj, "GET", "/v1/cases/rsj-case", ""); code != 200 || len(body["allowedActions"].([]any)) != 0 {
		t.Fatalf("co-department read: %d %v", code, body["allowedActions"])
	}
	if code, _ := a.do(zjj, "POST", "/v1/cases/rsj-case/acknowledge", ""); code != 403 {
		t.Fatalf("co-department acts: %d", code)
	}
	if code, _ := a.do(leader, "POST", "/v1/cases/rsj-case/acknowledge", ""); code != 403 {
		t.Fatalf("leader handles: %d", code)
	}
	if code, body := a.do(leader, "POST", "/v1/cases/rsj-case/flag", `{"flag":"leader-owned","set":true,"owner":"副县长"}`); code != 200 || body["case"].(map[string]any)["leaderOwned"] != true {
		t.Fatalf("leader flags: %d %v", code, body)
	}
	h.expect("2026-03-02 flagged LEADER_OWNED set=true owner=副县长")

	// The owner acts; the API shows deadlines and days left.
	code, body := a.do(rsj, "GET", "/v1/cases/rsj-case", "")
	if code != 200 || !slices.Equal(body["allowedActions"].([]any), []any{"acknowledge", "object", "decline", "withdraw"}) {
		t.Fatalf("owner read: %d %v", code, body["allowedActions"])
	}
	dl := body["deadlines"].([]any)[0].(map[string]any)
	if dl["clock"] != "acknowledge" || dl["due"] != "2026-03-12" || dl["daysLeft"] != float64(10) || dl["status"] != "running" {
		t.Fatalf("deadline %v", dl)
	}
	if code, body := a.do(rsj, "POST", "/v1/cases/rsj-case/reply", `{"outcome":"supported","opinion":"x"}`); code != 409 ||
		body["error"] != "illegal_transition" || !slices.Equal(body["details"].(map[string]any)["allowed"].([]any), []any{"acknowledge", "object", "decline", "withdraw", "flag"}) {
		t.Fatalf("illegal transition over HTTP: %d %v", code, body)
	}
	if code, _ := a.do(rsj, "POST", "/v1/cases/rsj-case/acknowledge", `{"days":3}`); code != 400 {
		t.Fatalf("a field of another action: %d", code)
	}
	if code, _ := a.do(rsj, "POST", "/v1/cases/rsj-case/approve", `{}`); code != 404 {
		t.Fatalf("unknown action: %d", code)
	}
	if code, body := a.do(rsj, "POST", "/v1/cases/rsj-case/acknowledge", `{"notifiedOn":"2026-03-02"}`); code != 200 ||
		body["case"].(map[string]any)["state"] != "acknowledged" || body["events"].([]any)[0].(map[string]any)["type"] != "case.acknowledged" {
		t.Fatalf("acknowledge: %d %v", code, body)
	}
	h.expect("2026-03-02 acknowledged rsj notified=2026-03-02")
	if code, body := a.do(jwjw, "POST", "/v1/cases/acc-zjj/acknowledge", ``); code != 200 {
		t.Fatalf("the discipline body acknowledges the accusation: %d %v", code, body)
	}
	code, body = a.do(supervisor, "GET", "/v1/cases/rsj-case", "")
	hist := body["history"].([]any)
	if code != 200 || len(hist) != 3 || hist[2].(map[string]any)["type"] != "case.acknowledged" ||
		hist[2].(map[string]any)["actor"].(map[string]any)["department"] != "rsj" {
		t.Fatalf("history: %d %v", code, hist)
	}
}
