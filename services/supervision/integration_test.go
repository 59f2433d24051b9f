package supervision

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// TestIntegrationRoutingToCasesTopic runs the service as main wires it
// (app.New + Wire) against a real Kafka-protocol broker and real databases:
// case.assigned in on the routing topic, department actions over HTTP, the
// lifecycle events and a timer's reminder out on the cases topic; a
// redelivered event changes nothing.
func TestIntegrationRoutingToCasesTopic(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, d store.Dialect, dsn string) {
		brokers := brokertest.Start(t)
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, testSecret, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := config.Base{
			Service: "supervision", CountyFile: samplePath, HTTPAddr: "127.0.0.1:0", Brokers: brokers,
			CreateTopics: true, TopicPartitions: 1, KafkaBatch: time.Millisecond, DBDriver: string(d), DBDSN: dsn,
			LogLevel: "warn", LogFormat: "text", ShutdownTimeout: 10 * time.Second, AuthHS256SecretFile: secret,
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a, err := app.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		clk := clock.NewManual(at("2026-03-02 09:00"))
		svc, err := Wire(ctx, a, Options{Clock: clk, TimerPoll: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.HTTP.Listen(); err != nil {
			t.Fatal(err)
		}
		runErr := make(chan error, 1)
		go func() { runErr <- a.Run(ctx) }()
		api := &api{t: t, url: "http://" + a.HTTP.Addr()}

		w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: brokers})
		defer w.Close()
		send := func(env *eventsv1.Envelope) {
			t.Helper()
			msg, err := kafkatransport.EncodeEnvelope(a.Topic(eventsv1.StreamRouting), env)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteMessages(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		waitVisible := func(caseID string) map[string]any {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, body := api.do(supervisor, "GET", "/v1/cases/"+caseID, "")
				if code == 200 {
					return body
				}
				if time.Now().After(deadline) {
					t.Fatalf("case %s never arrived: %d %v", caseID, code, body)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}

		in := assigned("i1", "rsj", clk.Now())
		send(in)
		waitVisible("i1")
		rsj := dept("rsj")
		if code, body := api.do(rsj, "POST", "/v1/cases/i1/acknowledge", `{"reason":"已告知信访人受理"}`); code != 200 {
			t.Fatalf("acknowledge: %d %v", code, body)
		}
		if code, body := api.do(rsj, "POST", "/v1/cases/i1/accept", ``); code != 200 {
			t.Fatalf("accept: %d %v", code, body)
		}

		// The same event again (a redelivery), then a sentinel behind it on
		// the one partition: once the sentinel is applied, so was the copy.
		send(in)
		send(assigned("i2", "zjj", clk.Now()))
		waitVisible("i2")
		_, body := api.do(supervisor, "GET", "/v1/cases/i1", "")
		if body["state"] != "accepted" || len(body["history"].([]any)) != 3 || body["attempt"] != float64(1) {
			t.Fatalf("the duplicate changed the case: %v", body)
		}

		// The timer worker runs in the app: past the 50% mark of the handling
		// clock (03-02 + 60 = 05-01 → 05-06; 50% of 65 days is 04-03).
		clk.Set(at("2026-04-03 08:00"))
		svc.Wake()

		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: a.Topic(eventsv1.StreamCases), Partition: 0, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		var got []string
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		defer rcancel()
		for len(got) < 3 {
			msg, err := r.ReadMessage(rctx)
			if err != nil {
				t.Fatalf("read the cases topic (got %v): %v", got, err)
			}
			env, err := kafkatransport.DecodeEnvelope(msg)
			if err != nil {
				t.Fatal(err)
			}
			if env.CaseId == "i2" {
				continue // the sentinel's own acknowledgement timers
			}
			if env.CaseId != "i1" || env.County != "anji" || string(msg.Key) != "i1" ||
				kafkatransport.Header(msg, kafkatransport.HeaderEventType) != env.Type {
				t.Fatalf("message %s: %v", msg.Key, env)
			}
			if env.Type != "case.supervision_action" && env.Actor.GetDepartment() != "rsj" {
				t.Fatalf("actor %v", env.Actor)
			}
			got = append(got, describe(env))
		}
		want := []string{
			"2026-03-02 acknowledged rsj notified=2026-03-02",
			"2026-03-02 accepted rsj COMPLAINT due=2026-05-06",
			"2026-04-03 supervision REMINDER HANDLING rsj due=2026-05-06 step=0 leader=false",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("cases topic:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
		}
		// Nothing else was published for i1: not for the duplicate, nothing
		// twice.
		short, scancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer scancel()
		for {
			msg, err := r.ReadMessage(short)
			if err != nil {
				break
			}
			if env, _ := kafkatransport.DecodeEnvelope(msg); env.CaseId == "i1" {
				t.Fatalf("unexpected message %s", describe(env))
			}
		}

		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Fatalf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the service did not stop")
		}
	})
}
