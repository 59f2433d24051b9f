package httpserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadyzReportsFailingChecksAndDraining(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	var dbErr error
	s.AddReadyCheck("database", func(context.Context) error { return dbErr })
	call := func() (int, string) {
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := call(); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("ready = %d %s", code, body)
	}
	dbErr = errors.New("database is closed")
	if code, body := call(); code != 503 || !strings.Contains(body, "database is closed") {
		t.Fatalf("failing check = %d %s", code, body)
	}
	dbErr = nil
	s.Drain()
	if code, body := call(); code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("draining = %d %s", code, body)
	}
}

func TestServeFinishesInFlightRequestsOnStop(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	entered := make(chan struct{})
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		_, _ = w.Write([]byte("done"))
	}))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, 5*time.Second) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	cancel()
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request got %q", body)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
