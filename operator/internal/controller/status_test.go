package controller

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// startingState is what the first reconcile of a healthy County finds:
// every concern True but the workloads it has just created, which start.
func startingState(c *v1alpha1.County) *state {
	s := newState(c)
	for _, typ := range concerns {
		s.set(typ, metav1.ConditionTrue, "Test", "fine")
	}
	s.set(CondWorkloadsAvailable, metav1.ConditionFalse, ReasonProgressing, "county: 0 of 1 replicas available")
	s.workloadsCreated = true
	return s
}

func TestFirstStatusWaitsOnlyForStartingWorkloads(t *testing.T) {
	fresh := &v1alpha1.County{ObjectMeta: metav1.ObjectMeta{Name: "fresh", Generation: 1}}
	if !startingState(fresh).firstStatusWaits(fresh) {
		t.Fatal("a fresh County whose created workloads start: the status should wait")
	}
	cases := map[string]struct {
		county func(*v1alpha1.County)
		state  func(*state)
	}{
		"a status was written before": {county: func(c *v1alpha1.County) { c.Status.ObservedGeneration = 1 }},
		"a condition is there": {county: func(c *v1alpha1.County) {
			meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: CondReady, Status: metav1.ConditionFalse, Reason: ReasonReconciling})
		}},
		"the workloads existed": {state: func(s *state) { s.workloadsCreated = false }},
		"a concern failed":      {state: func(s *state) { s.set(CondTopicsReady, metav1.ConditionFalse, ReasonKafkaUnreachable, "no broker") }},
		"a concern was not evaluated": {state: func(s *state) {
			delete(s.conds, CondIsolationReady)
		}},
		"an error": {state: func(s *state) { s.err(context.DeadlineExceeded) }},
		"the workloads are stuck": {state: func(s *state) {
			s.set(CondWorkloadsAvailable, metav1.ConditionFalse, ReasonDeadlineExceeded, "county: stuck")
		}},
		"the workloads are available": {state: func(s *state) {
			s.set(CondWorkloadsAvailable, metav1.ConditionTrue, ReasonAvailable, "county")
		}},
	}
	for name, tc := range cases {
		c := fresh.DeepCopy()
		if tc.county != nil {
			tc.county(c)
		}
		s := startingState(c)
		if tc.state != nil {
			tc.state(s)
		}
		if s.firstStatusWaits(c) {
			t.Errorf("%s: the status waits, want it written at once", name)
		}
	}
}

// Through the real API server: the reconcile that creates a county's
// Deployments writes no status while they start (no deployment controller
// runs here, so they never become available), asks to be requeued, and the
// next reconcile writes what it finds, Progressing.
func TestFirstStatusIsWrittenByTheNextReconcile(t *testing.T) {
	needEnv(t)
	c := manualCounty(t, "first-status", nil)
	r := manualReconciler(testOpts)
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: c.Name}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > ownedEventDelay {
		t.Fatalf("first reconcile asked for %+v, want a requeue within %s", res, ownedEventDelay)
	}
	if !exists(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "xinfang-first-status", Name: "intake"}}) {
		t.Fatal("the first reconcile created no intake Deployment")
	}
	got := getCounty(t, c.Name)
	if got.Status.ObservedGeneration != 0 || len(got.Status.Conditions) != 0 {
		t.Fatalf("the first reconcile wrote a status: %+v", got.Status)
	}

	reconcileOnce(t, r, c.Name)
	got = getCounty(t, c.Name)
	if got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("observedGeneration %d, want %d", got.Status.ObservedGeneration, got.Generation)
	}
	w := meta.FindStatusCondition(got.Status.Conditions, CondWorkloadsAvailable)
	ready := meta.FindStatusCondition(got.Status.Conditions, CondReady)
	if w == nil || w.Reason != ReasonProgressing || ready == nil || ready.Status != metav1.ConditionFalse {
		t.Fatalf("second reconcile: WorkloadsAvailable %+v, Ready %+v; want Progressing and not Ready", w, ready)
	}
}
