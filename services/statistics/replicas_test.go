package statistics_test

import (
	"fmt"
	"sync"
	"testing"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/store"
	"xinfang.io/services/kit/storetest"
	"xinfang.io/services/statistics"
)

func TestReplicasApplyingTheSameCasesAtOnceLoseNothing(t *testing.T) {
	// On PostgreSQL a county may run statistics replicas, each consuming
	// some of the partitions: one case's registration, routing and
	// lifecycle can be applied by three replicas at the same moment. A
	// batch locks its cases (in id order, so replicas queue rather than
	// deadlock) and reads their newest committed state: no event's change
	// of a case may be lost, and no batch may fail.
	ref, _ := newService(t, storetest.SQLite(t), "2026-06-25")
	applyAll(t, ref, scenario().envs)
	want := summaryJSON(t, ref)
	streams := byStream(scenario().envs)
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dsn := storetest.PostgresSchemaDSN(t)
			var replicas []statistics.Service
			var first *store.DB
			for range streams {
				db, err := store.Open(t.Context(), store.Postgres, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				svc, _ := newService(t, db, "2026-06-25")
				replicas = append(replicas, svc)
				if first == nil {
					first = db
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, len(streams))
			i := 0
			for _, s := range []eventsv1.Stream{eventsv1.StreamPetitions, eventsv1.StreamRouting, eventsv1.StreamCases} {
				svc, envs := replicas[i], streams[s]
				i++
				wg.Go(func() {
					for len(envs) > 0 {
						n := min(1+round, len(envs))
						if err := svc.ApplyBatch(t.Context(), events(envs[:n])); err != nil {
							errs <- fmt.Errorf("replica of %s: %w", s, err)
							return
						}
						envs = envs[n:]
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := summaryJSON(t, replicas[0]); got != want {
				t.Errorf("replicas at once give\n%s\nwant\n%s", got, want)
			}
			if n, all := appliedEvents(t, first), len(scenario().envs); n != all {
				t.Errorf("the case rows record %d applied events, want %d", n, all)
			}
		})
	}
}
