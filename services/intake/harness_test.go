package intake_test

import (
	"bytes"
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

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/intake"
	"xinfang.io/services/kit/app"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/brokertest"
	"xinfang.io/services/kit/clock"
	"xinfang.io/services/kit/config"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/kittest"
	"xinfang.io/services/kit/store"
)

const samplePath = "../../operator/config/samples/county_anji.yaml"

var secret = []byte("intake-test-secret-0123456789abcdef")

// harness is a running intake service: the real wiring (intake.Setup on a
// kit App) against a real broker and a real database.
type harness struct {
	t       testing.TB
	base    string
	brokers []string
	app     *app.App
	svc     intake.Service
	dbPath  string
	clock   *clock.Manual
	logs    *kittest.SyncBuffer
}

func start(t testing.TB, d store.Dialect, dsn string) *harness {
	t.Helper()
	logs := kittest.SyncBuffer{}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	brokers := brokertest.Start(t)
	cfg := config.Base{
		Service: "intake", CountyFile: samplePath, HTTPAddr: "127.0.0.1:0", Brokers: brokers,
		CreateTopics: true, TopicPartitions: 2, KafkaBatch: time.Millisecond, DBDriver: string(d), DBDSN: dsn,
		LogLevel: "debug", LogFormat: "json", ShutdownTimeout: 10 * time.Second, AuthHS256SecretFile: secretFile,
		LogOutput: &logs,
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Date(2026, 11, 21, 10, 0, 0, 0, county.Shanghai))
	svc, err := intake.Setup(ctx, a, intake.Settings{
		KeyFile: filepath.Join(dir, "keys.json"), GenerateKeys: true, QueryPerMinute: 6000, QueryBurst: 1000,
		SubmitPerMinute: 6000, MaxImportBytes: 256 << 20, Now: clk.Now,
	})
	if err != nil {
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
			t.Errorf("intake stopped with: %v", err)
		}
	})
	return &harness{t: t, base: "http://" + a.HTTP.Addr(), brokers: brokers, app: a, svc: svc, dbPath: dsn, clock: clk, logs: &logs}
}

func token(t testing.TB, role auth.Role, dept, countyID string) string {
	t.Helper()
	s, err := auth.Sign(secret, auth.Claims{County: countyID, Role: role, Department: dept,
		RegisteredClaims: jwt.RegisteredClaims{Subject: string(role) + "-1"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends a JSON request and decodes the JSON answer into out (if not nil).
func (h *harness) do(method, path, tok string, body any, out any) int {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, h.base+path, r)
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
			h.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// topic reads every message of a county stream, waiting for at least n.
func (h *harness) topic(s eventsv1.Stream, n int) []kafka.Message {
	h.t.Helper()
	return brokertest.Messages(h.t, h.brokers, h.app.Topic(s), 2, n)
}

// publish writes events to a county stream as another service would.
func (h *harness) publish(envs ...*eventsv1.Envelope) {
	h.t.Helper()
	w := kafkatransport.NewWriter(kafkatransport.WriterConfig{Brokers: h.brokers})
	defer w.Close()
	for _, env := range envs {
		m, err := kafkatransport.EncodeEnvelope(h.app.Topic(eventsv1.StreamOf(env.TypeName())), env)
		if err != nil {
			h.t.Fatal(err)
		}
		if err := w.WriteMessages(context.Background(), m); err != nil {
			h.t.Fatal(err)
		}
	}
}
