package supervision

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/supervision/casemachine"
)

func (a *api) html(c *auth.Claims, path string) (int, string) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token(a.t, c))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		a.t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

func TestDocuments(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	a := newAPI(t, h)
	rsj := dept("rsj")
	h.set("2026-06-01 09:00")
	h.assign("d1", "rsj")
	if code, _ := a.html(rsj, "/v1/cases/d1/documents/acceptance-notice"); code != 409 {
		t.Fatalf("acceptance notice before acknowledgement: %d", code)
	}
	h.set("2026-06-02 09:00")
	h.act(rsj, "d1", ack)
	h.set("2026-06-03 09:00")
	h.act(rsj, "d1", accept)
	h.set("2026-07-20 09:00")
	h.act(rsj, "d1", casemachine.Command{Action: casemachine.ActExtend, Days: 30, Reason: "需会同住建部门现场核查", PetitionerNotified: true})
	h.set("2026-08-31 09:00")
	h.act(rsj, "d1", casemachine.Command{Action: casemachine.ActReply, Outcome: "supported", Opinion: "责令用人单位于9月15日前支付拖欠工资。<script>alert(1)</script>"})

	for _, tc := range []struct {
		doc  string
		want []string
	}{
		{"acceptance-notice", []string{"<h1>受理告知书</h1>", "安吉县人力资源和社会保障局〔2026〕第d1号", "你（们）于2026年6月1日经安吉县信访工作机构", "第二十三条", "60日内办结", "2026年6月2日"}},
		{"extension-notice", []string{"<h1>延期告知书</h1>", "2026年6月3日受理", "因需会同住建部门现场核查", "延长30日，至2026年9月1日", "第三十四条", "2026年7月20日"}},
		{"opinion", []string{"<h1>信访事项处理意见书</h1>", "处理结论：<strong>支持</strong>", "责令用人单位于9月15日前支付拖欠工资。&lt;script&gt;", "三十日内", "第三十五条", "2026年8月31日"}},
	} {
		code, body := a.html(rsj, "/v1/cases/d1/documents/"+tc.doc)
		if code != 200 {
			t.Fatalf("%s: %d %s", tc.doc, code, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q:\n%s", tc.doc, w, body)
			}
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("%s renders markup from the opinion", tc.doc)
		}
	}
	if code, _ := a.html(dept("zjj"), "/v1/cases/d1/documents/opinion"); code != 404 {
		t.Fatalf("another department reads the opinion: %d", code)
	}
	if code, _ := a.html(rsj, "/v1/cases/d1/documents/non-acceptance-notice"); code != 409 {
		t.Fatalf("non-acceptance notice of an accepted case: %d", code)
	}
	if code, _ := a.html(rsj, "/v1/cases/d1/documents/nonsense"); code != 404 {
		t.Fatalf("unknown document: %d", code)
	}

	// A matter diverted to the court: the bureau's notice with the guidance.
	div := routingEnvelope("d2", h.clock.Now(), &eventsv1.CaseDiverted{Category: eventsv1.Category_CATEGORY_COMPLAINT,
		LegalChannel: eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION, Body: "安吉县人民法院",
		Guidance: "请依法向安吉县人民法院提起诉讼。"})
	if err := h.svc.ApplyRouting(context.Background(), div); err != nil {
		t.Fatal(err)
	}
	code, body := a.html(supervisor, "/v1/cases/d2/documents/non-acceptance-notice")
	for _, w := range []string{"<h1>不予受理告知书</h1>", "安吉县信访局〔2026〕第d2号", "通过安吉县人民法院依法解决", "请依法向安吉县人民法院提起诉讼。", "2026年8月31日"} {
		if code != 200 || !strings.Contains(body, w) {
			t.Errorf("diverted notice lacks %q: %d\n%s", w, code, body)
		}
	}
}
