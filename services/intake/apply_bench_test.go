package intake_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/intake"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/kittest"
)

// BenchmarkApply measures the timeline consumer's work: a routing decision
// (new status, departments, a timeline entry) applied to a registered case,
// from 8 goroutines as a consumer's concurrent batches would, on SQLite and
// PostgreSQL. The cases are registered first, untimed.
func BenchmarkApply(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			h := benchHarness(b, db)
			cases := registerCases(b, h, b.N)
			ctx := context.Background()
			b.ResetTimer()
			cpu0 := kittest.CPUTime()
			start := time.Now()
			inParallel(b, b.N, 8, func(i int) error {
				env := &eventsv1.Envelope{EventId: fmt.Sprintf("ev-%d", i), County: "anji", CaseId: cases[i], OccurredAt: timestamppb.Now()}
				_ = env.SetPayload(&eventsv1.CaseAssigned{Mode: eventsv1.AssignMode_ASSIGN_MODE_ASSIGN, LeadDepartment: "rsj",
					CoDepartments: []string{"zjj"}, AcknowledgeDue: "2026-12-01"})
				return h.svc.Apply(ctx, env)
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			// The process's CPU, the service's share of it: the figure that
			// holds when the machine is shared.
			b.ReportMetric(float64((kittest.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
		})
	}
}

// registerCases registers n petitions through the service and returns
// their case ids.
func registerCases(b *testing.B, h *harness, n int) []string {
	b.Helper()
	clerk := token(b, auth.RoleClerk, "", "anji")
	ids := make([]string, n)
	inParallel(b, n, 16, func(i int) error {
		birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%20000)
		id := idNumber(fmt.Sprintf("330523%s%03d", birth.Format("20060102"), i/20000%1000))
		var reg intake.RegisterResponse
		if code := h.do("POST", "/v1/petitions", clerk, petition(id, "王五", "拖欠工资", fmt.Sprintf("%s（第%d件）", wages, i)), &reg); code != 201 {
			return fmt.Errorf("register = %d", code)
		}
		ids[i] = reg.CaseID
		return nil
	})
	return ids
}

// inParallel runs do(0) … do(n-1) on workers goroutines and stops the
// benchmark at the first failure.
func inParallel(b *testing.B, n, workers int, do func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := do(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
