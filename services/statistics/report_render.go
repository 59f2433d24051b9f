package statistics

import (
	"errors"
	"strconv"
	"strings"
)

// The report is rendered by plain Go rather than text/template and
// html/template: a template's reflective method calls stop the linker from
// dropping unused methods, which made the statistics binary 3 MB and its
// idle resident memory about 2 MiB larger (docs/benchmarks.md, county
// footprint). The output is what the templates produced, byte for byte.

// RenderMarkdown renders the report as Markdown.
func RenderMarkdown(r *Report) ([]byte, error) {
	if r.Summary == nil {
		return nil, errors.New("render report: no summary")
	}
	w := &reportWriter{esc: func(s string) string { return s }}
	s := r.Summary
	w.raw("# ").val(r.CountyName).val(strconv.Itoa(r.Year)).raw("年度信访工作数据\n\n")
	w.raw("> 依据《信访工作条例》第四十一条编制的年度报告数据部分。统计期间 ").val(s.From).raw(" 至 ").val(s.To)
	if !r.Complete {
		w.raw("（年度未结束，截至当日）")
	}
	w.raw("；同比期间 ").val(s.PreviousFrom).raw(" 至 ").val(s.PreviousTo).raw("。各项指标口径见 docs/metrics.md。\n\n## 一、信访总量\n")
	w.raw("\n").totals(s, "", "").raw("\n\n")
	for i, sec := range shareSections(r) {
		if i > 0 {
			w.raw("\n")
		}
		w.raw("## "+sec.heading+"\n\n| "+sec.keyHead+" | 件次 | 占比 |\n|---|---:|---:|\n").mdShares(sec.rows, sec.orNone)
	}
	w.raw("\n## 七、转送、交办、督办情况\n\n").handling(s).raw("\n")
	if len(s.DivertedByChannel) > 0 {
		w.raw("\n| 法定途径 | 件次 |\n|---|---:|\n")
		for _, e := range s.DivertedByChannel {
			w.raw("| ").val(e.Label).raw(" | ").val(groupDigits(e.Value)).raw(" |\n")
		}
	}
	w.raw("\n## 八、办理质量\n\n| 指标 | 本期 | 分子/分母 | 上年同期 |\n|---|---:|---:|---:|\n")
	for _, d := range rateDefs {
		q := s.Rates[d.ID]
		w.raw("| ").val(q.Label).raw(" | ").val(fmtPct(q.Percent)).raw(" | ").val(groupDigits(q.Numerator)).raw("/").val(groupDigits(q.Denominator)).raw(" | ").val(fmtPct(q.PreviousPercent)).raw(" |\n")
	}
	w.raw("\n## 九、复查、复核\n\n").reviews(s).raw("\n\n")
	w.raw("## 十、积案情况（截至 ").val(s.Backlog.AsOf).raw("）\n\n").backlog(s).raw("\n")
	w.raw("\n---\n生成时间 ").val(r.GeneratedAt).raw("\n")
	return []byte(w.b.String()), nil
}

// RenderHTML renders the report as a printable HTML page.
func RenderHTML(r *Report) ([]byte, error) {
	if r.Summary == nil {
		return nil, errors.New("render report: no summary")
	}
	w := &reportWriter{esc: htmlText}
	s := r.Summary
	w.raw(reportHTMLHead).raw("<title>").val(r.CountyName).val(strconv.Itoa(r.Year)).raw("年度信访工作数据</title>\n").raw(reportHTMLStyle)
	w.raw("<h1>").val(r.CountyName).val(strconv.Itoa(r.Year)).raw("年度信访工作数据</h1>\n")
	w.raw(`<p class="note">依据《信访工作条例》第四十一条编制的年度报告数据部分。统计期间 `).val(s.From).raw(" 至 ").val(s.To)
	if !r.Complete {
		w.raw("（年度未结束，截至当日）")
	}
	w.raw("；同比期间 ").val(s.PreviousFrom).raw(" 至 ").val(s.PreviousTo).raw("。</p>\n")
	w.raw("\n<h2>一、信访总量</h2>\n<p>").totals(s, "<b>", "</b>").raw("</p>\n\n")
	for _, sec := range shareSections(r) {
		w.raw("<h2>"+sec.heading+"</h2>\n<table><tr><th>"+sec.keyHead+"</th><th>件次</th><th>占比</th></tr>\n").htmlShares(sec.rows, sec.orNone)
	}
	w.raw("\n<h2>七、转送、交办、督办情况</h2>\n<p>").handling(s).raw("</p>\n")
	if len(s.DivertedByChannel) > 0 {
		w.raw("<table><tr><th>法定途径</th><th>件次</th></tr>\n")
		for _, e := range s.DivertedByChannel {
			w.raw("<tr><td>").val(e.Label).raw(`</td><td class="n">`).val(groupDigits(e.Value)).raw("</td></tr>\n")
		}
		w.raw("</table>")
	}
	w.raw("\n<h2>八、办理质量</h2>\n<table><tr><th>指标</th><th>本期</th><th>分子/分母</th><th>上年同期</th></tr>\n")
	for _, d := range rateDefs {
		q := s.Rates[d.ID]
		w.raw("<tr><td>").val(q.Label).raw(`</td><td class="n">`).val(fmtPct(q.Percent)).raw(`</td><td class="n">`).val(groupDigits(q.Numerator)).raw("/").val(groupDigits(q.Denominator)).raw(`</td><td class="n">`).val(fmtPct(q.PreviousPercent)).raw("</td></tr>\n")
	}
	w.raw("</table>\n<h2>九、复查、复核</h2>\n<p>").reviews(s).raw("</p>\n")
	w.raw("<h2>十、积案情况（截至 ").val(s.Backlog.AsOf).raw("）</h2>\n<p>").backlog(s).raw("</p>\n")
	w.raw("\n<p class=\"note\">生成时间 ").val(r.GeneratedAt).raw("</p>\n</body>\n</html>\n")
	return []byte(w.b.String()), nil
}

// shareSection is one of sections 二 to 六: a table of shares under a
// heading, the same in both renderings.
type shareSection struct {
	heading, keyHead string
	rows             []Share
	orNone           bool
}

func shareSections(r *Report) []shareSection {
	return []shareSection{
		{"二、信访渠道", "渠道", r.Channels, false},
		{"三、事项类别", "类别", r.Categories, false},
		{"四、主要问题领域（按主办单位）", "主办单位", r.Fields, true},
		{"五、被反映较多的单位（前十位）", "被反映单位", r.MostComplained, true},
		{"六、乡镇（街道）分布（前十位）", "乡镇（街道）", r.Townships, true},
	}
}

const reportHTMLHead = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
`

const reportHTMLStyle = `<style>
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
`

// reportWriter builds a rendering: raw text as is, values through esc
// (identity for Markdown, HTML text escaping for the page).
type reportWriter struct {
	b   strings.Builder
	esc func(string) string
}

func (w *reportWriter) raw(s string) *reportWriter { w.b.WriteString(s); return w }
func (w *reportWriter) val(s string) *reportWriter { w.b.WriteString(w.esc(s)); return w }
func (w *reportWriter) num(n int64) *reportWriter  { return w.val(groupDigits(n)) }

// totals is section 一's paragraph; open/close wrap the first two figures
// (bold on the page).
func (w *reportWriter) totals(s *Summary, open, close string) *reportWriter {
	reg, per := s.Counts["registrations"], s.Counts["persons"]
	w.raw("本年度共登记信访事项 ").raw(open).num(reg.Value).raw(close).raw(" 件次、").raw(open).num(per.Value).raw(close).raw(" 人次，上年同期 ")
	w.num(reg.Previous).raw(" 件次、").num(per.Previous).raw(" 人次，件次").val(yoyText(reg.ChangePercent)).raw("，人次").val(yoyText(per.ChangePercent))
	w.raw("。其中初次信访 ").num(s.Counts["firstTime"].Value).raw(" 件次（占 ").val(fmtPct(s.Rates["firstTimeShare"].Percent)).raw("），重复信访 ")
	w.num(s.Counts["repeat"].Value).raw(" 件次；集体信访 ").num(s.Counts["group"].Value).raw(" 件次、").num(s.Counts["groupPersons"].Value)
	return w.raw(" 人次；网上信访 ").num(s.Counts["online"].Value).raw(" 件次，占 ").val(fmtPct(s.Rates["onlineShare"].Percent)).raw("。")
}

// handling is section 七's sentence.
func (w *reportWriter) handling(s *Summary) *reportWriter {
	w.raw("转送 ").num(s.Counts["transferred"].Value).raw(" 件，交办 ").num(s.Counts["assigned"].Value).raw(" 件，督办 ").num(s.Counts["duban"].Value)
	w.raw(" 件次；依法导入诉讼、仲裁、行政复议等法定途径 ").num(s.Counts["diverted"].Value).raw(" 件，转出本县 ").num(s.Counts["forwarded"].Value)
	return w.raw(" 件，不予受理 ").num(s.Counts["notAccepted"].Value).raw(" 件。")
}

// reviews is section 九's sentence.
func (w *reportWriter) reviews(s *Summary) *reportWriter {
	w.raw("复查申请 ").num(s.Counts["reviewRequested"].Value).raw(" 件，办结 ").num(s.Counts["reviewDecided"].Value).raw(" 件，维持 ").num(s.Counts["reviewUpheld"].Value)
	w.raw(" 件（维持率 ").val(fmtPct(s.Rates["reviewUpheld"].Percent)).raw("）；复核申请 ").num(s.Counts["reReviewRequested"].Value).raw(" 件，办结 ").num(s.Counts["reReviewDecided"].Value)
	return w.raw(" 件，维持 ").num(s.Counts["reReviewUpheld"].Value).raw(" 件（维持率 ").val(fmtPct(s.Rates["reReviewUpheld"].Percent)).raw("）。")
}

// backlog is section 十's sentence.
func (w *reportWriter) backlog(s *Summary) *reportWriter {
	w.raw("超过办理期限仍未办结 ").num(s.Backlog.Total).raw(" 件：")
	for i, b := range s.Backlog.Ageing {
		if i > 0 {
			w.raw("，")
		}
		w.val(b.Label).raw(" ").num(b.Count).raw(" 件")
	}
	return w.raw("。")
}

// mdShares is a Markdown table's rows; orNone puts a （无） row in an
// empty table.
func (w *reportWriter) mdShares(rows []Share, orNone bool) *reportWriter {
	for _, r := range rows {
		w.raw("| ").val(r.Label).raw(" | ").num(r.Value).raw(" | ").val(fmtPct(r.Percent)).raw(" |\n")
	}
	if len(rows) == 0 && orNone {
		w.raw("| （无） | 0 | — |\n")
	}
	return w
}

// htmlShares is an HTML table's rows and its end.
func (w *reportWriter) htmlShares(rows []Share, orNone bool) *reportWriter {
	for _, r := range rows {
		w.raw("<tr><td>").val(r.Label).raw(`</td><td class="n">`).num(r.Value).raw(`</td><td class="n">`).val(fmtPct(r.Percent)).raw("</td></tr>\n")
	}
	if len(rows) == 0 && orNone {
		w.raw(`<tr><td colspan="3">（无）</td></tr>`)
	}
	return w.raw("</table>\n")
}

// htmlText escapes s for HTML text exactly as html/template does there.
var htmlText = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;").Replace
