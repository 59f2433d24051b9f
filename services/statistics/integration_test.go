package statistics_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

func TestEventsOnTheTopicsBecomeTheSummaryOverHTTP(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		h := start(t, d, dsn, "2026-06-25")
		envs := scenario().envs
		h.publish(envs...)
		h.publish(envs[:20]...) // a republished batch: the inbox absorbs it
		h.waitApplied(len(envs))

		sup := token(t, auth.RoleSupervisor, "")
		var s statistics.Summary
		if code, _, body := h.get("/v1/stats/summary?from=2026-01-01&to=2026-06-30", sup, &s); code != 200 {
			t.Fatalf("summary: %d %s", code, body)
		}
		checkSummary(t, &s)

		// B is a live group petition (6 persons): one alert.raised on the
		// alerts topic, keyed by the case.
		msgs := h.topic(eventsv1.StreamAlerts, 1)
		var groups int
		for _, m := range msgs {
			env, err := kafkatransport.DecodeEnvelope(m)
			if err != nil {
				t.Fatal(err)
			}
			if a := env.GetAlertRaised(); a.GetKind() == eventsv1.AlertKind_ALERT_KIND_GROUP_PETITION {
				groups++
				if env.GetCaseId() != "B" || string(m.Key) != "B" || a.GetCount() != 6 {
					t.Errorf("group alert %v keyed %q", env, m.Key)
				}
			}
		}
		if groups != 1 {
			t.Errorf("%d group alerts on the topic, want 1", groups)
		}
		var alerts statistics.AlertList
		if code, _, body := h.get("/v1/alerts?since=2026-06-01", sup, &alerts); code != 200 || len(alerts.Alerts) != len(msgs) {
			t.Errorf("alerts: %d %s; want the %d alerts of the topic", code, body, len(msgs))
		}
	})
}

func TestHTTPAuthorizationAndValidation(t *testing.T) {
	h := start(t, store.SQLite, storetest.SQLiteDSN(t), "2026-06-25")
	sup, leader, admin := token(t, auth.RoleSupervisor, ""), token(t, auth.RoleLeader, ""), token(t, auth.RoleAdmin, "")
	clerk, dept := token(t, auth.RoleClerk, ""), token(t, auth.RoleDepartment, "zjj")
	for _, path := range []string{"/v1/stats/summary", "/v1/stats/breakdown?by=channel", "/v1/alerts", "/v1/stats/report?year=2026"} {
		if code, _, _ := h.get(path, "", nil); code != 401 {
			t.Errorf("%s without a token: %d, want 401", path, code)
		}
		for _, tok := range []string{clerk, dept} {
			if tok == dept && path == "/v1/stats/summary" {
				continue // a department's own summary: below
			}
			if code, _, _ := h.get(path, tok, nil); code != 403 {
				t.Errorf("%s as clerk/department: %d, want 403", path, code)
			}
		}
		for _, tok := range []string{sup, leader, admin} {
			if code, _, body := h.get(path, tok, nil); code != 200 {
				t.Errorf("%s: %d %s, want 200", path, code, body)
			}
		}
	}
	// A department token reads its own department's summary (also when it
	// names none), never another's; the bureau reads any department's.
	for _, c := range []struct {
		path, tok string
		code      int
		dept      string
	}{
		{"/v1/stats/summary", dept, 200, "zjj"},
		{"/v1/stats/summary?department=zjj", dept, 200, "zjj"},
		{"/v1/stats/summary?department=rsj", dept, 403, ""},
		{"/v1/stats/summary?department=rsj", sup, 200, "rsj"},
		{"/v1/stats/summary?department=rsj", leader, 200, "rsj"},
		{"/v1/stats/summary", sup, 200, ""},
		{"/v1/stats/summary?department=rsj", clerk, 403, ""},
	} {
		var s statistics.Summary
		code, _, body := h.get(c.path, c.tok, nil)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.path, code, body, c.code)
			continue
		}
		if code == 200 {
			h.get(c.path, c.tok, &s)
			if s.Department != c.dept {
				t.Errorf("%s: department %q, want %q", c.path, s.Department, c.dept)
			}
		}
	}
	for path, field := range map[string]string{
		"/v1/stats/summary?department=nosuch":         "department",
		"/v1/stats/summary?asOf=2026-06-26":           "asOf",
		"/v1/stats/summary?asOf=26-06-01":             "asOf",
		"/v1/stats/summary?from=2026-02-30":           "from",
		"/v1/stats/summary?from=2026-01-01&from=x":    "from",
		"/v1/stats/summary?county=other":              "county",
		"/v1/stats/breakdown?by=petitioner":           "by",
		"/v1/stats/breakdown?by=month&to=2026/06/01":  "to",
		"/v1/stats/report?year=twenty":                "year",
		"/v1/stats/report?year=2026&format=pdf":       "format",
		"/v1/alerts?since=" + url.QueryEscape("6月1日"): "since",
	} {
		var e struct {
			Error  string            `json:"error"`
			Fields map[string]string `json:"fields"`
		}
		if code, _, body := h.get(path, sup, &e); code != 400 || e.Error != "validation" || e.Fields[field] == "" {
			t.Errorf("%s: %d %s; want 400 with a %q field error", path, code, body, field)
		}
	}
	for format, ctype := range map[string]string{"": "application/json", "json": "application/json", "markdown": "text/markdown", "html": "text/html"} {
		code, got, body := h.get("/v1/stats/report?year=2026&format="+format, sup, nil)
		if code != 200 || !strings.HasPrefix(got, ctype) || !strings.Contains(string(body), "安吉县") {
			t.Errorf("report format %q: %d %s", format, code, got)
		}
	}
	// The dashboard page and its assets are public and self-contained.
	for path, ctype := range map[string]string{"/": "text/html", "/dashboard": "text/html", "/dashboard/app.js": "text/javascript", "/dashboard/app.css": "text/css"} {
		code, got, body := h.get(path, "", nil)
		if code != 200 || !strings.HasPrefix(got, ctype) {
			t.Errorf("%s: %d %s", path, code, got)
		}
		text := strings.ReplaceAll(string(body), `"http://www.w3.org/2000/svg"`, "") // a namespace name, not a resource
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url(", "fonts.googleapis"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s refers to an external resource (%q)", path, bad)
			}
		}
	}
	if code, _, _ := h.get("/dashboard/secret.txt", "", nil); code != 404 {
		t.Errorf("unknown asset: %d, want 404", code)
	}
}

func TestPrometheusFigures(t *testing.T) {
	h := start(t, store.SQLite, storetest.SQLiteDSN(t), "2026-06-25")
	envs := scenario().envs
	h.publish(envs...)
	h.waitApplied(len(envs))
	// The counter moves just after the batch commits, which waitApplied
	// sees: read /metrics until it has caught up.
	applied := fmt.Sprintf(`xinfang_statistics_events_total{county="anji",outcome="applied"} %d`, len(envs))
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, _, body = h.get("/metrics", "", nil)
		if strings.Contains(string(body), applied) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		`xinfang_statistics_year_count{county="anji",figure="registrations"} 14`,
		`xinfang_statistics_year_count{county="anji",figure="persons"} 22`,
		`xinfang_statistics_year_rate_percent{county="anji",figure="timelyAcknowledgement"} 75`,
		`xinfang_statistics_year_rate_percent{county="anji",figure="onTimeCompletion"} 57.14`,
		`xinfang_statistics_backlog_cases{age="180+",county="anji"} 1`,
		applied,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := strings.Count(string(body), "\nxinfang_statistics_"); n > 60 {
		t.Errorf("%d statistics series: the figures must stay low-cardinality", n)
	}
}

func TestAPoisonEventInABatchIsDeadLetteredAloneAndTheRestCount(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		h := start(t, d, dsn, "2026-06-25")
		envs := scenario().envs
		// A refused event (a rating without a value) and a message that is
		// not an event at all, among the scenario's events and duplicates.
		bad := &history{prefix: "bad-"}
		bad.add("A", "2026-03-05", &eventsv1.CaseEvaluated{Target: eventsv1.EvaluationTarget_EVALUATION_TARGET_BUREAU})
		mixed := append(append(append([]*eventsv1.Envelope(nil), envs[:40]...), bad.envs[0]), envs[40:]...)
		h.publish(mixed...)
		w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: h.brokers})
		defer w.Close()
		if err := w.WriteMessages(context.Background(), kafka.Message{Topic: h.app.Topic(eventsv1.StreamCases),
			Key: []byte("A"), Value: []byte("\xff not an event")}); err != nil {
			t.Fatal(err)
		}
		h.publish(envs[:30]...)
		h.waitApplied(len(envs))

		var s statistics.Summary
		if code, _, body := h.get("/v1/stats/summary?from=2026-01-01&to=2026-06-30", token(t, auth.RoleSupervisor, ""), &s); code != 200 {
			t.Fatalf("summary: %d %s", code, body)
		}
		checkSummary(t, &s)
		dead := h.topic(eventsv1.StreamDeadLetter, 2)
		if len(dead) != 2 {
			t.Fatalf("%d dead letters, want the 2 poison messages", len(dead))
		}
		for _, m := range dead {
			if g := kafkatransport.Header(m, kafkatransport.HeaderDLQConsumer); g != h.app.GroupID(statistics.ConsumerName) {
				t.Errorf("dead letter of group %q", g)
			}
			if id := kafkatransport.Header(m, kafkatransport.HeaderEventID); id != "" && id != bad.envs[0].GetEventId() {
				t.Errorf("dead letter of event %s, a good one", id)
			}
		}
		_, _, metrics := h.get("/metrics", "", nil)
		if !strings.Contains(string(metrics), "xinfang_kafka_consume_batch_fallbacks_total{group=\""+h.app.GroupID(statistics.ConsumerName)+"\"}") {
			t.Error("/metrics does not count the batches that fell back")
		}
	})
}
