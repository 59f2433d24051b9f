package intake_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/intake"
	"xinfang.io/services/kit/auth"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
)

// BenchmarkApply measures the timeline consumer's work: a routing decision
// (new status, departments, a timeline entry) applied to a registered case,
// from 8 goroutines as a consumer's concurrent batches would, on SQLite and
// PostgreSQL. The cases are registered first, untimed.
func BenchmarkApply(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			var h *harness
			if db == "sqlite" {
				h = start(b, store.SQLite, storetest.SQLiteDSN(b))
			} else {
				h = start(b, store.Postgres, storetest.PostgresSchemaDSN(b))
			}
			cases := registerCases(b, h, b.N)
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						env := &eventsv1.Envelope{EventId: fmt.Sprintf("ev-%d", i), County: "anji", CaseId: cases[i], OccurredAt: timestamppb.Now()}
						_ = env.SetPayload(&eventsv1.CaseAssigned{Mode: eventsv1.AssignMode_ASSIGN_MODE_ASSIGN, LeadDepartment: "rsj",
							CoDepartments: []string{"zjj"}, AcknowledgeDue: "2026-12-01"})
						if err := h.svc.Apply(ctx, env); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			// The process's CPU, the service's share of it: the figure that
			// holds when the machine is shared.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// registerCases registers n petitions through the service and returns
// their case ids.
func registerCases(b *testing.B, h *harness, n int) []string {
	b.Helper()
	clerk := token(b, auth.RoleClerk, "", "anji")
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%20000)
				id := idNumber(fmt.Sprintf("330523%s%03d", birth.Format("20060102"), i/20000%1000))
				var reg intake.RegisterResponse
				if code := h.do("POST", "/v1/petitions", clerk, petition(id, "王五", "拖欠工资", fmt.Sprintf("%s（第%d件）", wages, i)), &reg); code != 201 {
					b.Errorf("register = %d", code)
					return
				}
				ids[i] = reg.CaseID
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids
}
