package statistics_test

import (
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/browsertest"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

func TestDashboardRendersInHeadlessChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	h := start(t, store.SQLite, storetest.SQLiteDSN(t), "2026-06-25")
	envs := scenario().envs
	h.publish(envs...)
	h.waitApplied(len(envs))
	// The token travels in the fragment: never sent to the server, moved
	// into localStorage by the page.
	url := h.base + "/dashboard#token=" + token(t, auth.RoleLeader, "")

	dom, logs := browsertest.Run(t, bin, 20000, "--dump-dom", url)
	if p := browsertest.ConsoleProblems.FindAllString(logs, -1); len(p) > 0 {
		t.Errorf("console messages or page errors:\n%s", strings.Join(p, "\n"))
	}
	if !strings.Contains(dom, `data-state="ready"`) {
		t.Fatalf("dashboard did not become ready:\n%s\n%s", dom, logs)
	}
	if m := regexp.MustCompile(`<div id="errors"[^>]*>([^<]*)</div>`).FindStringSubmatch(dom); m == nil || strings.TrimSpace(m[1]) != "" {
		t.Errorf("dashboard shows errors: %v", m)
	}
	// Every chart drew bars with data.
	for _, chart := range []string{"month", "channel", "category", "township", "department", "respondent", "backlog"} {
		re := regexp.MustCompile(`data-chart="` + chart + `"[^>]*data-bars="(\d+)"|data-bars="(\d+)"[^>]*data-chart="` + chart + `"`)
		m := re.FindStringSubmatch(dom)
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1] + m[2])
		}
		if n == 0 {
			t.Errorf("chart %s has no bars", chart)
		}
	}
	if n := strings.Count(dom, `class="bar"`); n < 20 {
		t.Errorf("%d bars in the page, want at least 20", n)
	}
	for _, want := range []string{"安吉县", "信访件次", "及时受理率", "75.00%", "积案", `data-kind="group_petition"`, "2026-01-01"} {
		if !strings.Contains(dom, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(dom, "token=") {
		t.Error("the token stayed in the page address")
	}

	// Screenshot check: the page is drawn, with the bars' colour in it.
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	browsertest.Run(t, bin, 20000, "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars", url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Errorf("screenshot is %v, want 1280×900", b)
	}
	if n := browsertest.CountColour(img, 0x2f, 0x6f, 0xad); n < 500 {
		t.Errorf("screenshot has %d pixels of the bar colour, want ≥ 500: charts not drawn", n)
	}
	if n := browsertest.CountColour(img, 0xb3, 0x26, 0x1e); n < 5000 {
		t.Errorf("screenshot has %d pixels of the header colour, want ≥ 5000: page not styled", n)
	}
	if dir := os.Getenv("XINFANG_SCREENSHOT_DIR"); dir != "" {
		data, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(dir, "statistics-dashboard.png"), data, 0o644)
	}
}
