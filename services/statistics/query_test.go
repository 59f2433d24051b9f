package statistics_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"xinfang.io/services/kit/apierror"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

func rowsOf(t *testing.T, b *statistics.Breakdown) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range b.Rows {
		if v := r.Counts["registrations"]; v != 0 {
			out[r.Key] = v
		}
	}
	return out
}

func keysOf(b *statistics.Breakdown) []string {
	var out []string
	for _, r := range b.Rows {
		out = append(out, r.Key)
	}
	return out
}

func TestBreakdowns(t *testing.T) {
	svc, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	applyAll(t, svc, scenario().envs)
	get := func(by string) *statistics.Breakdown {
		t.Helper()
		b, err := svc.Breakdown(context.Background(), statistics.BreakdownQuery{By: by, PeriodQuery: period})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ch := get("channel")
	if got, want := keysOf(ch), []string{"web", "letter", "visit", "phone", "fax"}; !reflect.DeepEqual(got, want) {
		t.Errorf("channel rows %v, want %v", got, want)
	}
	if got, want := rowsOf(t, ch), map[string]int64{"web": 4, "letter": 8, "visit": 1, "phone": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("by channel %v, want %v", got, want)
	}
	if ch.Rows[0].Label != "网上信访" {
		t.Errorf("web label %q", ch.Rows[0].Label)
	}
	if got, want := rowsOf(t, get("category")), map[string]int64{"complaint": 12, "suggestion": 1, "accusation": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("by category %v, want %v", got, want)
	}
	tw := get("township")
	if got, want := rowsOf(t, tw), map[string]int64{"dipu": 10, "tianzihu": 2, "meixi": 1, "xiaofeng": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("by township %v, want %v", got, want)
	}
	if len(tw.Rows) != 15 || tw.Rows[0].Key != "dipu" || tw.Rows[0].Label != "递铺街道" {
		t.Errorf("township rows: %d, first %+v; want all 15 townships, dipu first", len(tw.Rows), tw.Rows[0])
	}
	dept := get("department")
	if got, want := rowsOf(t, dept), map[string]int64{"zjj": 5, "gaj": 2, "gov-meixi": 1, "jyj": 1, "jwjw": 1, "rsj": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("by department %v, want %v", got, want)
	}
	for _, r := range dept.Rows {
		switch r.Key {
		case "zjj":
			// O A C J due and acknowledged in time (M not yet due); handling: A J of O A C J.
			if a, h := r.Rates["timelyAcknowledgement"], r.Rates["onTimeCompletion"]; a.Numerator != 4 || a.Denominator != 4 || h.Numerator != 2 || h.Denominator != 4 {
				t.Errorf("zjj: acknowledgement %d/%d, completion %d/%d; want 4/4, 2/4", a.Numerator, a.Denominator, h.Numerator, h.Denominator)
			}
			if r.Backlog == nil || *r.Backlog != 2 {
				t.Errorf("zjj backlog %v, want 2", r.Backlog)
			}
		case "gov-meixi":
			if u := r.Rates["unitSatisfaction"]; u.Numerator != 0 || u.Denominator != 1 {
				t.Errorf("gov-meixi unit satisfaction %d/%d, want 0/1", u.Numerator, u.Denominator)
			}
		}
	}
	months := get("month")
	if got, want := keysOf(months), []string{"2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"}; !reflect.DeepEqual(got, want) {
		t.Errorf("month rows %v, want %v", got, want)
	}
	if got, want := rowsOf(t, months), map[string]int64{"2026-01": 3, "2026-02": 3, "2026-03": 3, "2026-05": 1, "2026-06": 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("by month %v, want %v", got, want)
	}
	if months.Rows[0].Label != "2026年1月" || months.Rows[3].Rates["resolution"].Numerator != 1 {
		t.Errorf("month rows %+v: want label 2026年1月 and A concluded in April", months.Rows[:4])
	}
}

func fieldsOf(err error) apierror.Fields {
	var e *apierror.Error
	if !errors.As(err, &e) || e.Kind != apierror.Validation {
		return nil
	}
	return e.Fields
}

func TestQueriesValidateTheirParameters(t *testing.T) {
	svc, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"bad from", func() error {
			_, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{From: "2026-13-01"}})
			return err
		}, "from"},
		{"bad to", func() error {
			_, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{To: "26-01-01"}})
			return err
		}, "to"},
		{"to before from", func() error {
			_, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{From: "2026-03-01", To: "2026-02-01"}})
			return err
		}, "from"},
		{"longer than a year", func() error {
			_, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{From: "2025-01-01", To: "2026-01-02"}})
			return err
		}, "to"},
		{"no by", func() error { _, err := svc.Breakdown(ctx, statistics.BreakdownQuery{}); return err }, "by"},
		{"bad by", func() error { _, err := svc.Breakdown(ctx, statistics.BreakdownQuery{By: "petitioner"}); return err }, "by"},
		{"no year", func() error { _, err := svc.Report(ctx, statistics.ReportQuery{}); return err }, "year"},
		{"bad year", func() error { _, err := svc.Report(ctx, statistics.ReportQuery{Year: "26"}); return err }, "year"},
		{"future year", func() error { _, err := svc.Report(ctx, statistics.ReportQuery{Year: "2027"}); return err }, "year"},
		{"bad format", func() error {
			_, err := svc.Report(ctx, statistics.ReportQuery{Year: "2026", Format: "pdf"})
			return err
		}, "format"},
		{"bad since", func() error { _, err := svc.Alerts(ctx, statistics.AlertsQuery{Since: "yesterday"}); return err }, "since"},
	} {
		err := c.call()
		if f := fieldsOf(err); f[c.field] == "" {
			t.Errorf("%s: error %v, want a validation error on %q", c.name, err, c.field)
		}
	}
	// A full leap year is allowed; the default period is this year to today.
	if _, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{From: "2024-01-01", To: "2024-12-31"}}); err != nil {
		t.Errorf("366 days: %v", err)
	}
	s, err := svc.Summary(ctx, statistics.SummaryQuery{PeriodQuery: statistics.PeriodQuery{}})
	if err != nil || s.From != "2026-01-01" || s.To != "2026-06-25" {
		t.Errorf("default period %s..%s (%v), want 2026-01-01..2026-06-25", s.From, s.To, err)
	}
}

func TestAnnualReport(t *testing.T) {
	svc, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	applyAll(t, svc, scenario().envs)
	r, err := svc.Report(context.Background(), statistics.ReportQuery{Year: "2026"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete || r.Summary.From != "2026-01-01" || r.Summary.To != "2026-06-25" || r.Summary.PreviousTo != "2025-06-25" {
		t.Errorf("running year: complete=%v %s..%s vs ..%s", r.Complete, r.Summary.From, r.Summary.To, r.Summary.PreviousTo)
	}
	if len(r.Channels) != 5 || r.Channels[1].Key != "letter" || r.Channels[1].Value != 8 || *r.Channels[1].Percent != 57.14 {
		t.Errorf("channels %+v", r.Channels)
	}
	if len(r.MostComplained) != 3 || r.MostComplained[0].Label != "安吉县住房和城乡建设局" || r.MostComplained[0].Value != 2 {
		t.Errorf("most complained %+v", r.MostComplained)
	}
	if len(r.Fields) == 0 || r.Fields[0].Key != "zjj" || r.Fields[0].Value != 5 {
		t.Errorf("fields %+v", r.Fields)
	}
	md, err := statistics.RenderMarkdown(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# 安吉县2026年度信访工作数据",
		"本年度共登记信访事项 14 件次、22 人次，上年同期 2 件次、3 人次，件次同比增长600.00%，人次同比增长633.33%",
		"转送 10 件，交办 1 件，督办 1 件次",
		"| 来信 | 8 | 57.14% |",
		"| 安吉县住房和城乡建设局 | 2 | 14.29% |",
		"| 及时受理率 | 75.00% | 6/8 | — |",
		"| 一次性化解率 | 40.00% | 2/5 | — |",
		"| 诉讼 | 1 |",
		"复查申请 2 件，办结 2 件，维持 1 件（维持率 50.00%）",
		"超过办理期限仍未办结 4 件：超期1–30天 1 件，超期31–90天 1 件，超期91–180天 1 件，超期180天以上 1 件。",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	html, err := statistics.RenderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<html lang="zh-CN">`, "<td>来信</td><td class=\"n\">8</td>", "@media print", "件次同比增长600.00%"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("html lacks %q", want)
		}
	}
}
