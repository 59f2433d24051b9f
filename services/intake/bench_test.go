package intake_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// BenchmarkRegister measures POST /v1/petitions end to end over HTTP (decode,
// validate, repeat lookup, seal, one transaction with the outbox row), at 1
// and 64 concurrent clients, on SQLite and PostgreSQL.
func BenchmarkRegister(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", db, clients), func(b *testing.B) {
				benchRegister(b, benchHarness(b, db), clients)
			})
		}
	}
}

// benchHarness starts intake on a fresh database of db ("sqlite" or
// "postgres", a schema of its own).
func benchHarness(b *testing.B, db string) *harness {
	if db == "sqlite" {
		return start(b, store.SQLite, storetest.SQLiteDSN(b))
	}
	return start(b, store.Postgres, storetest.PostgresSchemaDSN(b))
}

func benchRegister(b *testing.B, h *harness, clients int) {
	clerk := token(b, auth.RoleClerk, "", "anji")
	bodies := make([][]byte, b.N)
	for i := range bodies {
		birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%20000)
		id := idNumber(fmt.Sprintf("330523%s%03d", birth.Format("20060102"), i/20000%1000))
		req := petition(id, "王五", "拖欠工资", fmt.Sprintf("%s（第%d件）", wages, i))
		bodies[i], _ = json.Marshal(req)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest("POST", h.base+"/v1/petitions", bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer "+clerk)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				d := time.Since(t0)
				if resp.StatusCode != 201 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatal("no successful request")
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkImport measures history import in cases per second (each case:
// petition + 2–3 lifecycle events, one transaction) on SQLite.
func BenchmarkImport(b *testing.B) {
	h := start(b, store.SQLite, storetest.SQLiteDSN(b))
	admin := token(b, auth.RoleAdmin, "", "anji")
	file := history(b.N, nil)
	b.ResetTimer()
	start := time.Now()
	if code := h.do("POST", "/v1/import", admin, file, nil); code != 200 {
		b.Fatalf("import = %d", code)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cases/s")
	b.ReportMetric(0, "ns/op")
}
