package statistics

import (
	"strings"
	"testing"
)

// TestReportEscaping: names from the county file reach the HTML page
// escaped as html/template escaped them (the page was rendered by it
// before) and the Markdown as they are; a report without its summary is an
// error, not a half page.
func TestReportEscaping(t *testing.T) {
	r := &Report{CountyName: `安吉县<script>`, Year: 2026, Summary: &Summary{},
		Channels: []Share{{Label: `来信 & "走访" + 'x'`, Value: 1200}}}
	page, err := RenderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>安吉县&lt;script&gt;2026年度信访工作数据</title>",
		`<td>来信 &amp; &#34;走访&#34; &#43; &#39;x&#39;</td><td class="n">1,200</td><td class="n">—</td>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(string(page), "<script>") {
		t.Error("the page carries markup from a name")
	}
	md, err := RenderMarkdown(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), `| 来信 & "走访" + 'x' | 1,200 | — |`) {
		t.Errorf("markdown:\n%s", md)
	}
	if _, err := RenderHTML(&Report{}); err == nil {
		t.Error("a report without a summary rendered")
	}
}
