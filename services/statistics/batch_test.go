package statistics_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/kafkatransport"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

// applyBatches applies envs as batches of size n.
func applyBatches(t testing.TB, svc statistics.Service, envs []*eventsv1.Envelope, n int) {
	t.Helper()
	for len(envs) > 0 {
		k := min(n, len(envs))
		if err := svc.ApplyBatch(context.Background(), events(envs[:k])); err != nil {
			t.Fatalf("apply batch: %v", err)
		}
		envs = envs[k:]
	}
}

func events(envs []*eventsv1.Envelope) []statistics.Event {
	out := make([]statistics.Event, len(envs))
	for i, e := range envs {
		out[i] = statistics.Event{Ctx: context.Background(), Env: e}
	}
	return out
}

func TestBatchesGiveTheFiguresOfOneByOne(t *testing.T) {
	// The hand-computed history applied in batches of any size — one case's
	// events together or apart, with alerts raised mid-batch for the live
	// registrations — gives exactly the figures of one event at a time.
	ref, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	applyAll(t, ref, scenario().envs)
	want := summaryJSON(t, ref)
	wantAlerts := alertKinds(t, ref)
	for _, n := range []int{2, 7, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				svc, _ := newService(t, db, "2026-06-25")
				applyBatches(t, svc, scenario().envs, n)
				if got := summaryJSON(t, svc); got != want {
					t.Errorf("batches of %d give\n%s\nwant\n%s", n, got, want)
				}
				if got := alertKinds(t, svc); got != wantAlerts {
					t.Errorf("batches of %d raise alerts %s, want %s", n, got, wantAlerts)
				}
			})
		})
	}
}

func TestDuplicatesAndRedeliveredBatchesChangeNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-06-25")
		envs := scenario().envs
		// Every event twice in the same batch, and a redelivered half.
		doubled := make([]*eventsv1.Envelope, 0, 2*len(envs))
		for _, e := range envs {
			doubled = append(doubled, e, e)
		}
		applyBatches(t, svc, doubled, len(doubled))
		s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period})
		if err != nil {
			t.Fatal(err)
		}
		checkSummary(t, s)
		first := summaryJSON(t, svc)
		applyBatches(t, svc, envs[:len(envs)/2], 10)
		applyAll(t, svc, envs[len(envs)/3:])
		if again := summaryJSON(t, svc); again != first {
			t.Errorf("redelivery changed the summary:\n%s\n%s", first, again)
		}
		if n := appliedEvents(t, db); n != len(envs) {
			t.Errorf("the case rows record %d applied events, want %d", n, len(envs))
		}
	})
}

func TestARefusedEventFailsItsBatchWhole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc, _ := newService(t, db, "2026-06-25")
		envs := scenario().envs
		applyAll(t, svc, envs[:10])
		before := summaryJSON(t, svc)
		// A case.evaluated without a rating is refused (dead-lettered).
		bad := &history{prefix: "bad-"}
		bad.add("A", "2026-03-05", &eventsv1.CaseEvaluated{Target: eventsv1.EvaluationTarget_EVALUATION_TARGET_BUREAU})
		batch := append(append(append([]*eventsv1.Envelope(nil), envs[10:20]...), bad.envs[0]), envs[20:]...)
		err := svc.ApplyBatch(context.Background(), events(batch))
		if err == nil || !kafkatransport.IsPermanent(err) {
			t.Fatalf("batch with a refused event: %v, want a permanent error", err)
		}
		if after := summaryJSON(t, svc); after != before {
			t.Errorf("a failed batch changed the figures:\n%s\n%s", before, after)
		}
		// One by one (the consumer's fallback): the refused event alone fails.
		var refused int
		for _, e := range batch {
			if err := svc.Apply(context.Background(), e); err != nil {
				if !kafkatransport.IsPermanent(err) || e != bad.envs[0] {
					t.Fatalf("apply %s: %v", e.GetEventId(), err)
				}
				refused++
			}
		}
		s, err := svc.Summary(context.Background(), statistics.SummaryQuery{PeriodQuery: period})
		if err != nil {
			t.Fatal(err)
		}
		if refused != 1 {
			t.Errorf("%d refused, want 1", refused)
		}
		checkSummary(t, s)
	})
}

func TestEventsWithoutIdsOrOfAnotherCountyAreRefused(t *testing.T) {
	svc, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	h := &history{}
	h.reg("X", "2026-06-01", petition{channel: "web", persons: 1})
	for name, mutate := range map[string]func(e *eventsv1.Envelope){
		"no event id":    func(e *eventsv1.Envelope) { e.EventId = "" },
		"no case id":     func(e *eventsv1.Envelope) { e.CaseId = "" },
		"another county": func(e *eventsv1.Envelope) { e.County = "deqing" },
	} {
		e := proto.Clone(h.envs[0]).(*eventsv1.Envelope)
		mutate(e)
		if err := svc.Apply(context.Background(), e); !kafkatransport.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
}

// alertKinds lists the kinds and keys of the alerts a service raised.
func alertKinds(t testing.TB, svc statistics.Service) string {
	t.Helper()
	l, err := svc.Alerts(context.Background(), statistics.AlertsQuery{Since: "2020-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, a := range l.Alerts {
		out += a.Kind + ":" + a.Key + ";"
	}
	return out
}

// applier applies events to a service, one way or another.
type applier func(t testing.TB, svc statistics.Service, envs []*eventsv1.Envelope)

// eachMode runs f on every dialect with the events applied one at a time
// ("events") and as one batch per call ("batch"): the warning rules must
// see the same counters either way.
func eachMode(t *testing.T, f func(t *testing.T, db *store.DB, apply applier)) {
	for _, m := range []struct {
		name  string
		apply applier
	}{
		{"events", applyAll},
		{"batch", func(t testing.TB, svc statistics.Service, envs []*eventsv1.Envelope) {
			applyBatches(t, svc, envs, len(envs))
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) { f(t, db, m.apply) })
		})
	}
}
