package routing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// running is the routing binary's wiring (Build) in a real app: a real
// broker, a real database, the county file, staff tokens.
type running struct {
	t       *testing.T
	a       *app.App
	county  string
	w       *kafka.Writer
	routing *kafka.Reader
	ctx     context.Context
}

func startRouting(t *testing.T, d store.Dialect, dsn string) *running {
	t.Helper()
	brokers := brokertest.Start(t)
	dir := t.TempDir()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	countyID := "anji-" + hex.EncodeToString(b) // unique topics even on a shared broker
	path := writeCountyFile(t, dir, edit(t, anjiYAML(t), "name: anji", "name: "+countyID))
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, testSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Base{
		Service: "routing", CountyFile: path, HTTPAddr: "127.0.0.1:0", Brokers: brokers, CreateTopics: true,
		// One partition per topic: the test's sentinels rely on one order.
		TopicPartitions: 1, KafkaBatch: time.Millisecond, DBDriver: string(d), DBDSN: dsn,
		LogLevel: "warn", LogFormat: "text", ShutdownTimeout: 10 * time.Second, AuthHS256SecretFile: secretFile,
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := Build(ctx, a, func() time.Time { return testNow }); err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := a.HTTP.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	r := &running{t: t, a: a, county: countyID, ctx: ctx,
		w: kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: brokers})}
	r.routing = kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: a.Topic(eventsv1.StreamRouting), MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("routing stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("routing did not stop")
		}
		r.routing.Close()
		r.w.Close()
	})
	return r
}

func (r *running) publish(envs ...*eventsv1.Envelope) {
	r.t.Helper()
	for _, env := range envs {
		env.County = r.county
		msg, err := kafkatransport.EncodeEnvelope(r.a.Topic(eventsv1.StreamOf(env.TypeName())), env)
		if err != nil {
			r.t.Fatal(err)
		}
		// One at a time: each write is acknowledged before the next, so the
		// order on the (single) partition is the order here.
		if err := r.w.WriteMessages(context.Background(), msg); err != nil {
			r.t.Fatal(err)
		}
	}
}

// until reads routing decisions until stop says the last one is reached.
func (r *running) until(stop func(*eventsv1.Envelope) bool) []*eventsv1.Envelope {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*eventsv1.Envelope
	for {
		msg, err := r.routing.ReadMessage(ctx)
		if err != nil {
			r.t.Fatalf("read routing topic after %d decisions: %v", len(out), err)
		}
		env, err := kafkatransport.DecodeEnvelope(msg)
		if err != nil {
			r.t.Fatal(err)
		}
		if kafkatransport.Header(msg, kafkatransport.HeaderEventType) != env.Type || string(msg.Key) != env.CaseId {
			r.t.Fatalf("headers/key of %v", env)
		}
		out = append(out, env)
		if stop(env) {
			return out
		}
	}
}

func forCase(id string) func(*eventsv1.Envelope) bool {
	return func(e *eventsv1.Envelope) bool { return e.CaseId == id }
}

func byCase(envs []*eventsv1.Envelope) map[string][]*eventsv1.Envelope {
	m := map[string][]*eventsv1.Envelope{}
	for _, e := range envs {
		m[e.CaseId] = append(m[e.CaseId], e)
	}
	return m
}

func TestIntegrationBrokerAndDatabase(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		r := startRouting(t, d, dsn)
		version := r.a.CountyConfig.Current().Version

		a := petition("A", pComplaint, "", "公司拖欠工资三个月")
		b := petition("B", pAccusation, "xfj", "信访局工作人员推诿")
		c := petition("C", pComplaint, "", "对一审判决不服")
		dd := petition("D", pComplaint, "", "长兴县某企业排污")
		e := petition("E", pComplaint, "", "")
		e.GetPetitionRegistered().Title = ""
		f := petition("F", pComplaint, "", "小区物业乱收费")
		f.Imported = true
		g := petition("G", pComplaint, "", "小区电梯长期故障")
		// A is delivered twice and registered again under a new event id.
		r.publish(a, b, c, dd, e, f, a, petition("A", pComplaint, "", "公司拖欠工资三个月"), g)

		got := byCase(r.until(forCase("G")))
		for _, id := range []string{"A", "B", "C", "D", "E", "F", "G"} {
			if len(got[id]) != 1 {
				t.Fatalf("case %s: %d decisions, want exactly 1", id, len(got[id]))
			}
		}
		if len(got) != 7 {
			t.Fatalf("decisions for %d cases", len(got))
		}
		ea := got["A"][0]
		if as := ea.GetCaseAssigned(); as.GetLeadDepartment() != "rsj" || as.AcknowledgeDue != "2026-03-12" || as.RulesVersion != version ||
			as.RuleId != "wages-social-insurance" || as.Attempt != 1 || ea.CausationId != a.EventId || ea.Actor.GetId() != "routing" ||
			ea.Actor.GetKind() != eventsv1.ActorKind_ACTOR_KIND_SYSTEM || !ea.OccurredAt.AsTime().Equal(testNow) || ea.County != r.county || ea.Imported {
			t.Fatalf("A: %v", ea)
		}
		if as := got["B"][0].GetCaseAssigned(); as.GetLeadDepartment() != "jwjw" || len(as.Overrides) != 1 || as.Overrides[0].ExcludedDepartment != "xfj" {
			t.Fatalf("B: %v", got["B"][0])
		}
		if got["C"][0].GetCaseDiverted().GetLegalChannel() != eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION {
			t.Fatalf("C: %v", got["C"][0])
		}
		if got["D"][0].GetCaseForwarded().GetDestination() != "湖州市信访局" {
			t.Fatalf("D: %v", got["D"][0])
		}
		if got["E"][0].GetCaseNotAccepted().GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE {
			t.Fatalf("E: %v", got["E"][0])
		}
		if ef := got["F"][0]; !ef.Imported || ef.GetCaseAssigned().GetLeadDepartment() != "zjj" {
			t.Fatalf("F: imported petitions are routed and the decision is imported too: %v", ef)
		}

		// Objections: A's lead objects (delivered twice); B's lead objects
		// last, so B's re-routing comes after anything A's could cause.
		objA := envelope("A", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true})
		r.publish(objA, objA, envelope("B", &eventsv1.CaseObjected{Department: "jwjw", WithinWindow: true}))
		got = byCase(r.until(forCase("B")))
		if len(got["A"]) != 1 || len(got["B"]) != 1 || len(got) != 2 {
			t.Fatalf("re-routings %v", got)
		}
		if as := got["A"][0].GetCaseAssigned(); as.GetLeadDepartment() != "xfj" || as.Attempt != 2 || as.ExcludedDepartments[0] != "rsj" ||
			got["A"][0].CausationId != objA.EventId {
			t.Fatalf("A re-routed: %v", got["A"][0])
		}
		if as := got["B"][0].GetCaseAssigned(); as.GetLeadDepartment() != "sjwjw" || as.Attempt != 2 {
			t.Fatalf("B re-routed past the objecting supervising body: %v", got["B"][0])
		}

		// Finality: G becomes final; F's objection after it is the sentinel
		// that G's finality was applied (same stream, same partition).
		r.publish(envelope("G", &eventsv1.CaseFinal{Article: "36(3)"}), envelope("F", &eventsv1.CaseObjected{Department: "zjj", WithinWindow: true}))
		r.until(forCase("F"))
		r.publish(repeatOf(petition("H", pComplaint, "", "小区电梯长期故障"), "G"), repeatOf(petition("I", pComplaint, "", "公司拖欠工资"), "A"))
		got = byCase(r.until(forCase("I")))
		if n := got["H"][0].GetCaseNotAccepted(); n.GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_FINAL || n.LinkedCaseId != "G" || n.Article != "36(3)" {
			t.Fatalf("H: %v", got["H"][0])
		}
		if n := got["I"][0].GetCaseNotAccepted(); n.GetReason() != eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_WITHIN_TIME_LIMIT || n.LinkedCaseId != "A" || n.Article != "19(3)" {
			t.Fatalf("I: %v", got["I"][0])
		}

		// Manual 转办 over HTTP, audited as case.assigned with the reason.
		tok := token(t, r.county, auth.RoleSupervisor, "xfj")
		req, _ := http.NewRequest("POST", "http://"+r.a.HTTP.Addr()+"/v1/cases/C/reroute",
			strings.NewReader(`{"reason":"经研判不属诉讼事项，交住建局办理","lead":"zjj"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("reroute: %d", resp.StatusCode)
		}
		m := r.until(forCase("C"))
		if ec := m[len(m)-1]; !ec.GetCaseAssigned().GetManual() || ec.Reason != "经研判不属诉讼事项，交住建局办理" || ec.Actor.GetKind() != eventsv1.ActorKind_ACTOR_KIND_BUREAU {
			t.Fatalf("manual: %v", ec)
		}

		// Every candidate excluded: B's supervising chain objected too. No
		// decision and no dead letter: bureau staff are alerted on the
		// alerts topic, the case is listed as awaiting manual routing, and
		// a manual 转办 resolves it.
		r.publish(envelope("B", &eventsv1.CaseObjected{Department: "sjwjw", WithinWindow: true}))
		alerts := kafka.NewReader(kafka.ReaderConfig{Brokers: r.a.Config.Brokers, Topic: r.a.Topic(eventsv1.StreamAlerts), MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		defer alerts.Close()
		actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer acancel()
		amsg, err := alerts.ReadMessage(actx)
		if err != nil {
			t.Fatal(err)
		}
		al, err := kafkatransport.DecodeEnvelope(amsg)
		if err != nil {
			t.Fatal(err)
		}
		if string(amsg.Key) != "B" || al.GetAlertRaised().GetKind() != eventsv1.AlertKind_ALERT_KIND_ROUTING_NEEDS_STAFF || al.CaseId != "B" {
			t.Fatalf("alert %v", al)
		}
		get := func(path string) map[string]any {
			req, _ := http.NewRequest("GET", "http://"+r.a.HTTP.Addr()+path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
			}
			return out
		}
		if cases, _ := get("/v1/routing/cases")["cases"].([]any); len(cases) != 1 || cases[0].(map[string]any)["caseId"] != "B" {
			t.Fatalf("awaiting manual routing: %v", cases)
		}
		req, _ = http.NewRequest("POST", "http://"+r.a.HTTP.Addr()+"/v1/cases/B/reroute", strings.NewReader(`{"reason":"由县检察院核查","lead":"jcy"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("reroute B: %d", resp.StatusCode)
		}
		m = r.until(forCase("B"))
		if as := m[len(m)-1].GetCaseAssigned(); as.GetLeadDepartment() != "jcy" || as.Attempt != 3 || !as.Manual {
			t.Fatalf("B after 转办: %v", m[len(m)-1])
		}
		if v := get("/v1/routing/cases/B"); v["state"] != "assigned" || v["awaitingManual"] != false {
			t.Fatalf("B: %v", v)
		}

		// An objection to a case routing never saw is dead-lettered.
		r.publish(envelope("Z", &eventsv1.CaseObjected{Department: "rsj", WithinWindow: true}))
		dl := kafka.NewReader(kafka.ReaderConfig{Brokers: r.a.Config.Brokers, Topic: r.a.Topic(eventsv1.StreamDeadLetter), MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		defer dl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		msg, err := dl.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(msg.Key) != "Z" || !strings.Contains(kafkatransport.Header(msg, "xinfang-dlq-error"), "never routed") {
			t.Fatalf("dead letter %s %v", msg.Key, msg.Headers)
		}
	})
}
