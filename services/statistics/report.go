package statistics

import (
	"bytes"
	"context"
	"fmt"
	htmltemplate "html/template"
	"math"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"xinfang.io/county"
	"xinfang.io/services/kit/apierror"
)

// ReportQuery selects the report's year (YYYY) and format (json, markdown
// or html; the transport renders).
type ReportQuery struct {
	Year   string
	Format string
}

// ReportFormats are the accepted report formats.
var ReportFormats = []string{"json", "markdown", "html"}

// Report is the data section of a county bureau's annual report (信访工作
// 条例 Art. 41): volumes with the year-on-year change, channels, categories,
// the main fields (by lead department), the most-complained bodies,
// 转送/交办/督办 counts, the quality rates, review figures and the backlog.
type Report struct {
	County     string `json:"county"`
	CountyName string `json:"countyName"`
	Year       int    `json:"year"`
	// Complete is false for the running year: the report then covers
	// 1 January to today and compares with the same dates a year earlier.
	Complete       bool     `json:"complete"`
	Summary        *Summary `json:"summary"`
	Channels       []Share  `json:"channels"`
	Categories     []Share  `json:"categories"`
	Townships      []Share  `json:"townships"`
	Fields         []Share  `json:"fields"`
	MostComplained []Share  `json:"mostComplained"`
	Months         []Entry  `json:"months"`
	GeneratedAt    string   `json:"generatedAt"`
}

// Share is a key's registrations and its share of the total.
type Share struct {
	Key     string   `json:"key"`
	Label   string   `json:"label"`
	Value   int64    `json:"value"`
	Percent *float64 `json:"percent"`
}

func (s *service) Report(ctx context.Context, q ReportQuery) (*Report, error) {
	f := apierror.Fields{}
	year, err := strconv.Atoi(q.Year)
	today := s.today()
	switch {
	case q.Year == "":
		f.Add("year", "required: the report's year, YYYY")
	case err != nil || len(q.Year) != 4:
		f.Add("year", "must be a year YYYY")
	case year < 1990 || year > today.Year():
		f.Add("year", "must be between 1990 and %d", today.Year())
	}
	switch q.Format {
	case "", "json", "markdown", "html":
	default:
		f.Add("format", "must be one of %v", ReportFormats)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	cfg := s.county()
	from, to := county.NewDate(year, time.January, 1), county.NewDate(year, time.December, 31)
	complete := today.After(to)
	if !complete {
		to = today
	}
	// 积案 as of the end of the period: 31 December, or today.
	sum, err := s.summary(ctx, cfg, from, to, to, "")
	if err != nil {
		return nil, err
	}
	r := &Report{County: cfg.ID, CountyName: cfg.Spec.DisplayName, Year: year, Complete: complete, Summary: sum,
		GeneratedAt: s.now().In(county.Shanghai).Format("2006-01-02 15:04")}
	totalRegs := sum.Counts["registrations"].Value
	shares := func(by string, limit int) ([]Share, error) {
		b, err := s.breakdown(ctx, cfg, by, from, to)
		if err != nil {
			return nil, err
		}
		out := []Share{}
		for _, row := range b.Rows {
			v := row.Counts["registrations"]
			if v == 0 && by != dimChannel && by != dimCategory {
				continue
			}
			out = append(out, Share{Key: row.Key, Label: row.Label, Value: v, Percent: percent(v, totalRegs)})
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out, nil
	}
	if r.Channels, err = shares(dimChannel, 0); err != nil {
		return nil, err
	}
	if r.Categories, err = shares(dimCategory, 0); err != nil {
		return nil, err
	}
	if r.Townships, err = shares(dimTownship, topN); err != nil {
		return nil, err
	}
	if r.Fields, err = shares(dimDepartment, topN); err != nil {
		return nil, err
	}
	for _, e := range sum.TopRespondents {
		r.MostComplained = append(r.MostComplained, Share{Key: e.Key, Label: e.Label, Value: e.Value, Percent: percent(e.Value, totalRegs)})
	}
	if r.MostComplained == nil {
		r.MostComplained = []Share{}
	}
	months, err := s.breakdown(ctx, cfg, "month", from, to)
	if err != nil {
		return nil, err
	}
	for _, row := range months.Rows {
		r.Months = append(r.Months, Entry{Key: row.Key, Label: row.Label, Value: row.Counts["registrations"]})
	}
	return r, nil
}

// ---- rendering ----

// groupDigits writes n with thousands separators: 2026 → "2,026".
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtPct(p *float64) string {
	if p == nil {
		return "—"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64) + "%"
}

// yoyText says the change in words: 同比下降9.15%.
func yoyText(p *float64) string {
	switch {
	case p == nil:
		return "上年同期无数据"
	case *p > 0:
		return "同比增长" + strconv.FormatFloat(*p, 'f', 2, 64) + "%"
	case *p < 0:
		return "同比下降" + strconv.FormatFloat(math.Abs(*p), 'f', 2, 64) + "%"
	}
	return "与上年同期持平"
}

var reportFuncs = map[string]any{
	"num": groupDigits,
	"pct": fmtPct,
	"yoy": yoyText,
	"count": func(s *Summary, id string) Count {
		return s.Counts[id]
	},
	"rate": func(s *Summary, id string) Rate { return s.Rates[id] },
	"rateIDs": func() []string {
		ids := make([]string, len(rateDefs))
		for i, d := range rateDefs {
			ids[i] = d.ID
		}
		return ids
	},
}

const reportMarkdown = `# {{.CountyName}}{{.Year}}年度信访工作数据

> 依据《信访工作条例》第四十一条编制的年度报告数据部分。统计期间 {{.Summary.From}} 至 {{.Summary.To}}{{if not .Complete}}（年度未结束，截至当日）{{end}}；同比期间 {{.Summary.PreviousFrom}} 至 {{.Summary.PreviousTo}}。各项指标口径见 docs/metrics.md。

## 一、信访总量
{{with .Summary}}{{$r := count . "registrations"}}{{$p := count . "persons"}}
本年度共登记信访事项 {{num $r.Value}} 件次、{{num $p.Value}} 人次，上年同期 {{num $r.Previous}} 件次、{{num $p.Previous}} 人次，件次{{yoy $r.ChangePercent}}，人次{{yoy $p.ChangePercent}}。其中初次信访 {{num (count . "firstTime").Value}} 件次（占 {{pct (rate . "firstTimeShare").Percent}}），重复信访 {{num (count . "repeat").Value}} 件次；集体信访 {{num (count . "group").Value}} 件次、{{num (count . "groupPersons").Value}} 人次；网上信访 {{num (count . "online").Value}} 件次，占 {{pct (rate . "onlineShare").Percent}}。
{{end}}
## 二、信访渠道

| 渠道 | 件次 | 占比 |
|---|---:|---:|
{{range .Channels}}| {{.Label}} | {{num .Value}} | {{pct .Percent}} |
{{end}}
## 三、事项类别

| 类别 | 件次 | 占比 |
|---|---:|---:|
{{range .Categories}}| {{.Label}} | {{num .Value}} | {{pct .Percent}} |
{{end}}
## 四、主要问题领域（按主办单位）

| 主办单位 | 件次 | 占比 |
|---|---:|---:|
{{range .Fields}}| {{.Label}} | {{num .Value}} | {{pct .Percent}} |
{{else}}| （无） | 0 | — |
{{end}}
## 五、被反映较多的单位（前十位）

| 被反映单位 | 件次 | 占比 |
|---|---:|---:|
{{range .MostComplained}}| {{.Label}} | {{num .Value}} | {{pct .Percent}} |
{{else}}| （无） | 0 | — |
{{end}}
## 六、乡镇（街道）分布（前十位）

| 乡镇（街道） | 件次 | 占比 |
|---|---:|---:|
{{range .Townships}}| {{.Label}} | {{num .Value}} | {{pct .Percent}} |
{{else}}| （无） | 0 | — |
{{end}}
## 七、转送、交办、督办情况
{{with .Summary}}
转送 {{num (count . "transferred").Value}} 件，交办 {{num (count . "assigned").Value}} 件，督办 {{num (count . "duban").Value}} 件次；依法导入诉讼、仲裁、行政复议等法定途径 {{num (count . "diverted").Value}} 件，转出本县 {{num (count . "forwarded").Value}} 件，不予受理 {{num (count . "notAccepted").Value}} 件。
{{if .DivertedByChannel}}
| 法定途径 | 件次 |
|---|---:|
{{range .DivertedByChannel}}| {{.Label}} | {{num .Value}} |
{{end}}{{end}}
## 八、办理质量

| 指标 | 本期 | 分子/分母 | 上年同期 |
|---|---:|---:|---:|
{{range rateIDs}}{{with rate $.Summary .}}| {{.Label}} | {{pct .Percent}} | {{num .Numerator}}/{{num .Denominator}} | {{pct .PreviousPercent}} |
{{end}}{{end}}
## 九、复查、复核

复查申请 {{num (count . "reviewRequested").Value}} 件，办结 {{num (count . "reviewDecided").Value}} 件，维持 {{num (count . "reviewUpheld").Value}} 件（维持率 {{pct (rate . "reviewUpheld").Percent}}）；复核申请 {{num (count . "reReviewRequested").Value}} 件，办结 {{num (count . "reReviewDecided").Value}} 件，维持 {{num (count . "reReviewUpheld").Value}} 件（维持率 {{pct (rate . "reReviewUpheld").Percent}}）。

## 十、积案情况（截至 {{.Backlog.AsOf}}）

超过办理期限仍未办结 {{num .Backlog.Total}} 件：{{range $i, $b := .Backlog.Ageing}}{{if $i}}，{{end}}{{$b.Label}} {{num $b.Count}} 件{{end}}。
{{end}}
---
生成时间 {{.GeneratedAt}}
`

const reportHTML = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{{.CountyName}}{{.Year}}年度信访工作数据</title>
<style>
body { font-family: "Noto Serif CJK SC", "Source Han Serif SC", "SimSun", serif; max-width: 48em; margin: 2em auto; color: #111; line-height: 1.7; }
h1 { text-align: center; font-size: 1.5em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #999; margin-top: 1.6em; }
table { border-collapse: collapse; width: 100%; margin: .6em 0; }
th, td { border: 1px solid #888; padding: .25em .5em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #444; font-size: .9em; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } table { break-inside: avoid; } }
</style>
</head>
<body>
<h1>{{.CountyName}}{{.Year}}年度信访工作数据</h1>
<p class="note">依据《信访工作条例》第四十一条编制的年度报告数据部分。统计期间 {{.Summary.From}} 至 {{.Summary.To}}{{if not .Complete}}（年度未结束，截至当日）{{end}}；同比期间 {{.Summary.PreviousFrom}} 至 {{.Summary.PreviousTo}}。</p>
{{with .Summary}}{{$r := count . "registrations"}}{{$p := count . "persons"}}
<h2>一、信访总量</h2>
<p>本年度共登记信访事项 <b>{{num $r.Value}}</b> 件次、<b>{{num $p.Value}}</b> 人次，上年同期 {{num $r.Previous}} 件次、{{num $p.Previous}} 人次，件次{{yoy $r.ChangePercent}}，人次{{yoy $p.ChangePercent}}。其中初次信访 {{num (count . "firstTime").Value}} 件次（占 {{pct (rate . "firstTimeShare").Percent}}），重复信访 {{num (count . "repeat").Value}} 件次；集体信访 {{num (count . "group").Value}} 件次、{{num (count . "groupPersons").Value}} 人次；网上信访 {{num (count . "online").Value}} 件次，占 {{pct (rate . "onlineShare").Percent}}。</p>
{{end}}
<h2>二、信访渠道</h2>
<table><tr><th>渠道</th><th>件次</th><th>占比</th></tr>
{{range .Channels}}<tr><td>{{.Label}}</td><td class="n">{{num .Value}}</td><td class="n">{{pct .Percent}}</td></tr>
{{end}}</table>
<h2>三、事项类别</h2>
<table><tr><th>类别</th><th>件次</th><th>占比</th></tr>
{{range .Categories}}<tr><td>{{.Label}}</td><td class="n">{{num .Value}}</td><td class="n">{{pct .Percent}}</td></tr>
{{end}}</table>
<h2>四、主要问题领域（按主办单位）</h2>
<table><tr><th>主办单位</th><th>件次</th><th>占比</th></tr>
{{range .Fields}}<tr><td>{{.Label}}</td><td class="n">{{num .Value}}</td><td class="n">{{pct .Percent}}</td></tr>
{{else}}<tr><td colspan="3">（无）</td></tr>{{end}}</table>
<h2>五、被反映较多的单位（前十位）</h2>
<table><tr><th>被反映单位</th><th>件次</th><th>占比</th></tr>
{{range .MostComplained}}<tr><td>{{.Label}}</td><td class="n">{{num .Value}}</td><td class="n">{{pct .Percent}}</td></tr>
{{else}}<tr><td colspan="3">（无）</td></tr>{{end}}</table>
<h2>六、乡镇（街道）分布（前十位）</h2>
<table><tr><th>乡镇（街道）</th><th>件次</th><th>占比</th></tr>
{{range .Townships}}<tr><td>{{.Label}}</td><td class="n">{{num .Value}}</td><td class="n">{{pct .Percent}}</td></tr>
{{else}}<tr><td colspan="3">（无）</td></tr>{{end}}</table>
{{with .Summary}}
<h2>七、转送、交办、督办情况</h2>
<p>转送 {{num (count . "transferred").Value}} 件，交办 {{num (count . "assigned").Value}} 件，督办 {{num (count . "duban").Value}} 件次；依法导入诉讼、仲裁、行政复议等法定途径 {{num (count . "diverted").Value}} 件，转出本县 {{num (count . "forwarded").Value}} 件，不予受理 {{num (count . "notAccepted").Value}} 件。</p>
{{if .DivertedByChannel}}<table><tr><th>法定途径</th><th>件次</th></tr>
{{range .DivertedByChannel}}<tr><td>{{.Label}}</td><td class="n">{{num .Value}}</td></tr>
{{end}}</table>{{end}}
<h2>八、办理质量</h2>
<table><tr><th>指标</th><th>本期</th><th>分子/分母</th><th>上年同期</th></tr>
{{range rateIDs}}{{with rate $.Summary .}}<tr><td>{{.Label}}</td><td class="n">{{pct .Percent}}</td><td class="n">{{num .Numerator}}/{{num .Denominator}}</td><td class="n">{{pct .PreviousPercent}}</td></tr>
{{end}}{{end}}</table>
<h2>九、复查、复核</h2>
<p>复查申请 {{num (count . "reviewRequested").Value}} 件，办结 {{num (count . "reviewDecided").Value}} 件，维持 {{num (count . "reviewUpheld").Value}} 件（维持率 {{pct (rate . "reviewUpheld").Percent}}）；复核申请 {{num (count . "reReviewRequested").Value}} 件，办结 {{num (count . "reReviewDecided").Value}} 件，维持 {{num (count . "reReviewUpheld").Value}} 件（维持率 {{pct (rate . "reReviewUpheld").Percent}}）。</p>
<h2>十、积案情况（截至 {{.Backlog.AsOf}}）</h2>
<p>超过办理期限仍未办结 {{num .Backlog.Total}} 件：{{range $i, $b := .Backlog.Ageing}}{{if $i}}，{{end}}{{$b.Label}} {{num $b.Count}} 件{{end}}。</p>
{{end}}
<p class="note">生成时间 {{.GeneratedAt}}</p>
</body>
</html>
`

var (
	markdownTmpl = texttemplate.Must(texttemplate.New("report.md").Funcs(reportFuncs).Parse(reportMarkdown))
	htmlTmpl     = htmltemplate.Must(htmltemplate.New("report.html").Funcs(reportFuncs).Parse(reportHTML))
)

// RenderMarkdown renders the report as Markdown.
func RenderMarkdown(r *Report) ([]byte, error) {
	var b bytes.Buffer
	if err := markdownTmpl.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return b.Bytes(), nil
}

// RenderHTML renders the report as a printable HTML page.
func RenderHTML(r *Report) ([]byte, error) {
	var b bytes.Buffer
	if err := htmlTmpl.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return b.Bytes(), nil
}
