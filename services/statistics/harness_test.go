package statistics_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/segmentio/kafka-go"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/kittest"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/statistics"
)

var secret = []byte("statistics-test-secret-0123456789abcdef")

// harness is a running statistics service: the real wiring
// (statistics.Setup on a kit App) against a real broker and database.
type harness struct {
	t       testing.TB
	base    string
	brokers []string
	app     *app.App
	clock   *clock.Manual
	logs    *kittest.SyncBuffer
}

func start(t testing.TB, d store.Dialect, dsn, today string) *harness {
	t.Helper()
	logs := &kittest.SyncBuffer{}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	brokers := brokertest.Start(t)
	cfg := config.Base{
		Service: "statistics", CountyFile: samplePath, HTTPAddr: "127.0.0.1:0", Brokers: brokers,
		CreateTopics: true, TopicPartitions: 2, KafkaBatch: time.Millisecond, DBDriver: string(d), DBDSN: dsn,
		LogLevel: "debug", LogFormat: "json", ShutdownTimeout: 10 * time.Second, AuthHS256SecretFile: secretFile,
		LogOutput: logs,
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(at(today))
	if _, err := statistics.Setup(ctx, a, statistics.Settings{Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	if err := a.HTTP.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("statistics stopped with: %v", err)
		}
	})
	return &harness{t: t, base: "http://" + a.HTTP.Addr(), brokers: brokers, app: a, clock: clk, logs: logs}
}

func token(t testing.TB, role auth.Role, dept string) string {
	t.Helper()
	s, err := auth.Sign(secret, auth.Claims{County: "anji", Role: role, Department: dept,
		RegisteredClaims: jwt.RegisteredClaims{Subject: string(role) + "-1"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get sends a GET and returns status, content type and body; out (if not
// nil) receives the decoded JSON.
func (h *harness) get(path, tok string, out any) (int, string, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.base+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// publish writes events to their county streams as the other services do.
func (h *harness) publish(envs ...*eventsv1.Envelope) {
	h.t.Helper()
	w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: h.brokers})
	defer w.Close()
	var msgs []kafka.Message
	for _, env := range envs {
		m, err := kafkatransport.EncodeEnvelope(h.app.Topic(eventsv1.StreamOf(env.TypeName())), env)
		if err != nil {
			h.t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		h.t.Fatal(err)
	}
}

// waitApplied waits until the consumer has applied n distinct events.
func (h *harness) waitApplied(n int) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := appliedEvents(h.t, h.app.DB)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("consumer applied %d of %d events in 60s; logs:\n%s", got, n, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// topic reads every message of a county stream, waiting for at least n.
func (h *harness) topic(s eventsv1.Stream, n int) []kafka.Message {
	h.t.Helper()
	return brokertest.Messages(h.t, h.brokers, h.app.Topic(s), 2, n)
}
