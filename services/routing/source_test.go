package routing

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"xinfang.io/county"
)

// watched starts a county.Watcher on a real file holding content. The poll
// interval is irrelevant: the tests call Poll, as the watcher's ticker would.
func watched(t *testing.T, content string) (path string, w *county.Watcher, r *Rules, logs *bytes.Buffer) {
	t.Helper()
	path = writeCountyFile(t, t.TempDir(), content)
	logs = &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	w, err := county.NewWatcher(path, time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	r, err = NewRules(w, log)
	if err != nil {
		t.Fatal(err)
	}
	return path, w, r, logs
}

func decideHousing(t *testing.T, r *Rules) Decision {
	t.Helper()
	d, _, err := Decide(r.Current(), Input{CategoryHint: complaint, Request: "小区电梯长期故障"}, Options{RoutingDate: RoutingDate(testNow), Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHotReloadChangesTheNextDecision(t *testing.T) {
	y := anjiYAML(t)
	path, w, r, _ := watched(t, y)
	before := decideHousing(t, r)
	if before.Lead != "zjj" || before.RulesVersion != w.Current().Version {
		t.Fatalf("before reload: %+v", before)
	}

	// Provincial IT moves property matters to the Dipu sub-district office.
	writeCountyFile(t, strings.TrimSuffix(path, "/county.yaml"), edit(t, y, "assign: {lead: zjj}", "assign: {lead: gov-dipu}"))
	if changed, err := w.Poll(); !changed || err != nil {
		t.Fatalf("poll = %v, %v", changed, err)
	}
	after := decideHousing(t, r)
	if after.Lead != "gov-dipu" || after.RuleID != "housing" {
		t.Fatalf("after reload: lead %s rule %s", after.Lead, after.RuleID)
	}
	if after.RulesVersion == before.RulesVersion || after.RulesVersion != w.Current().Version {
		t.Fatalf("version %s, before %s, watcher %s", after.RulesVersion, before.RulesVersion, w.Current().Version)
	}
	if r.LastError() != nil {
		t.Fatal(r.LastError())
	}
}

func TestInvalidRulesAreRejectedAndThePreviousStayInForce(t *testing.T) {
	y := anjiYAML(t)
	for _, tc := range []struct {
		name, old, new string
		// byCounty: the county loader rejects it (the watcher keeps the old
		// config); otherwise routing rejects what the loader let through.
		byCounty bool
		msg      string
	}{
		{"unknown department", "assign: {lead: zjj}", "assign: {lead: fgw}", true,
			`routingRules[12].assign.lead: department "fgw" is not defined`},
		{"empty match before other rules", `    - id: housing
      description: 拆迁、物业、房屋质量
      match:
        categories: [complaint, suggestion]
        keywords:
          any: [拆迁, 物业, 房屋质量, 商品房, 漏水, 电梯, 小区]
`, `    - id: housing
      description: 拆迁、物业、房屋质量
`, true, "routingRules[12].match: matches every petition, so the 2 rule(s) after it never apply"},
		{"rule sending accusations to the accused", `        respondents: [jwjw]
      assign: {lead: sjwjw}`, `        respondents: [jwjw]
      assign: {lead: jwjw}`, true, `would send accusations against "jwjw" to "jwjw" itself (Art. 30)`},
		{"cycle in supervising bodies", `      categories: [accusation]
    - id: jyj`, `      categories: [accusation]
      supervisingBody: jwjw
    - id: jyj`, true, `supervising bodies form a cycle through "jwjw" and "sjwjw"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w, r, logs := watched(t, y)
			good := w.Current().Version
			dir := strings.TrimSuffix(path, "/county.yaml")
			writeCountyFile(t, dir, edit(t, y, tc.old, tc.new))
			_, perr := w.Poll()
			if tc.byCounty != (perr != nil) {
				t.Fatalf("county loader error = %v, want rejection %v", perr, tc.byCounty)
			}
			d := decideHousing(t, r)
			if d.RulesVersion != good || d.Lead != "zjj" {
				t.Fatalf("decision under version %s (lead %s), want the previous version %s", d.RulesVersion, d.Lead, good)
			}
			err := r.LastError()
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("LastError = %v, want it to say %q", err, tc.msg)
			}
			if !strings.Contains(logs.String(), "rejected") {
				t.Errorf("rejection not logged:\n%s", logs)
			}
			// A good file again clears the error and is used.
			writeCountyFile(t, dir, edit(t, y, "assign: {lead: zjj}", "assign: {lead: gov-dipu}"))
			if _, err := w.Poll(); err != nil {
				t.Fatal(err)
			}
			if d := decideHousing(t, r); d.Lead != "gov-dipu" || d.RulesVersion == good {
				t.Fatalf("after the fix: %+v", d)
			}
			if err := r.LastError(); err != nil {
				t.Fatalf("error after the fix: %v", err)
			}
		})
	}
}

func TestNewRulesRefusesUnusableRules(t *testing.T) {
	y := edit(t, anjiYAML(t), "      categories: [accusation]\n    - id: jyj", "      categories: [accusation]\n      supervisingBody: jwjw\n    - id: jyj")
	path := writeCountyFile(t, t.TempDir(), y)
	// The county loader refuses the cycle before routing sees it (routing
	// keeps its own check as a second line: see decide_test).
	if _, err := county.NewWatcher(path, time.Hour, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("NewWatcher = %v, want a cycle error", err)
	}
}
