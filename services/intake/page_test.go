package intake_test

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/intake"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/browsertest"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// pageText is the text a person reads: the DOM without tags, scripts
// and styles (hidden elements are checked separately).
func pageText(dom string) string {
	dom = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>`).ReplaceAllString(dom, " ")
	return regexp.MustCompile(`<[^>]*>`).ReplaceAllString(dom, " ")
}

func TestQueryPageInHeadlessChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	h := start(t, store.SQLite, storetest.SQLiteDSN(t))
	id := idNumber("33052319750615123")
	var reg intake.RegisterResponse
	if code := h.do("POST", "/v1/petitions", token(t, auth.RoleClerk, "", "anji"),
		petition(id, "王五", "拖欠工资", wages), &reg); code != 201 {
		t.Fatalf("register = %d", code)
	}
	// Routing assigns it to the labour bureau.
	assigned := &eventsv1.Envelope{EventId: "ev-page-assign", County: "anji", CaseId: reg.CaseID, OccurredAt: timestamppb.New(h.clock.Now())}
	_ = assigned.SetPayload(&eventsv1.CaseAssigned{Mode: eventsv1.AssignMode_ASSIGN_MODE_ASSIGN, LeadDepartment: "rsj", AcknowledgeDue: "2026-12-01"})
	h.publish(assigned)
	waitStatus(t, h, reg.QueryCode, "assigned")

	// The page and its assets: served at / and /query, only 'self' allowed,
	// nothing loaded from elsewhere.
	for path, ctype := range map[string]string{"/": "text/html", "/query": "text/html",
		"/query/app.js": "text/javascript", "/query/app.css": "text/css"} {
		resp, err := http.Get(h.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			!strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s = %d %q CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), csp)
		}
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).Find(body); m != nil {
			t.Errorf("%s refers to an external resource: %s", path, m)
		}
	}
	if resp, err := http.Get(h.base + "/query/nope.js"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown asset: %v %v", resp, err)
	}

	// A person opens the link with the code as they might type it: lower
	// case, spaces instead of dashes.
	typed := strings.ToLower(strings.ReplaceAll(reg.QueryCode, "-", " "))
	pageURL := h.base + "/query?code=" + url.QueryEscape(typed)
	dom, logs := browsertest.Run(t, bin, 10000, "--dump-dom", pageURL)
	if p := browsertest.ConsoleProblems.FindAllString(logs, -1); len(p) > 0 {
		t.Errorf("console messages or page errors:\n%s", strings.Join(p, "\n"))
	}
	if !strings.Contains(dom, `data-state="ready"`) {
		t.Fatalf("page did not show the result:\n%s\n%s", dom, logs)
	}
	if !strings.Contains(dom, `lang="zh-CN"`) || !regexp.MustCompile(`<label for="code">查询码</label>`).MatchString(dom) {
		t.Error("page lacks lang=zh-CN or the labelled code field")
	}
	if !regexp.MustCompile(`id="status-label"[^>]*>已转送交办，待受理</p>`).MatchString(dom) {
		t.Errorf("status label not shown:\n%s", dom)
	}
	entries := regexp.MustCompile(`<li[^>]*><time datetime="([0-9-]+)">([0-9-]+)</time><span class="label">([^<]*)</span></li>`).FindAllStringSubmatch(dom, -1)
	if len(entries) != 2 {
		t.Fatalf("timeline has %d entries, want 2:\n%s", len(entries), dom)
	}
	if e := entries[0]; e[1] != "2026-11-20" || e[2] != "2026-11-20" || e[3] != "已登记" {
		t.Errorf("first entry = %q", e[1:])
	}
	if e := entries[1]; e[1] != "2026-11-21" || e[2] != "2026-11-21" || e[3] != "已交办至安吉县人力资源和社会保障局，应于2026-12-01前告知是否受理" {
		t.Errorf("second entry = %q", e[1:])
	}
	if strings.Contains(dom, "未找到") || !regexp.MustCompile(`<p id="message"[^>]*hidden`).MatchString(dom) {
		t.Error("an error message is shown next to the result")
	}
	for _, private := range []string{"王五", id, id[:17], "13812345678", "文昌路", "拖欠工资", "服装公司", "维护合法权益", reg.CaseID} {
		if strings.Contains(dom, private) {
			t.Errorf("the page shows %q", private)
		}
	}

	// An unknown code: the clear message, no result.
	dom, logs = browsertest.Run(t, bin, 10000, "--dump-dom", h.base+"/query?code=AAAA-BBBB-CCCC-DDDD")
	for _, p := range browsertest.ConsoleProblems.FindAllString(logs, -1) {
		if !strings.Contains(p, "Failed to load resource") || !strings.Contains(p, "404") { // some builds log the API's 404
			t.Errorf("console message or page error: %s", p)
		}
	}
	if !strings.Contains(dom, `data-state="notfound"`) ||
		!strings.Contains(pageText(dom), "未找到该查询码对应的信访事项，请核对后重试") {
		t.Fatalf("unknown code: no not-found message:\n%s", dom)
	}
	if !regexp.MustCompile(`<section id="result"[^>]*hidden`).MatchString(dom) || strings.Contains(dom, "已转送交办") {
		t.Errorf("unknown code shows a result:\n%s", dom)
	}

	// Screenshot on a phone-sized window: the page is drawn and styled.
	shot := filepath.Join(t.TempDir(), "query.png")
	browsertest.Run(t, bin, 10000, "--screenshot="+shot, "--window-size=390,844", "--hide-scrollbars", pageURL)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 5000 {
		t.Errorf("screenshot is only %d bytes", len(data))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 390 || b.Dy() != 844 {
		t.Errorf("screenshot is %v, want 390×844", b)
	}
	if n := browsertest.Colours(img); n < 16 {
		t.Errorf("screenshot has %d colours: page not drawn", n)
	}
	if n := browsertest.CountColour(img, 0xb3, 0x26, 0x1e); n < 10000 {
		t.Errorf("screenshot has %d pixels of the header colour, want ≥ 10000: page not styled", n)
	}
	if dir := os.Getenv("XINFANG_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "intake-query.png"), data, 0o644)
	}
}
