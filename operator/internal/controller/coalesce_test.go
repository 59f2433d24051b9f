package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"xinfang.io/operator/api/v1alpha1"
)

// recordingQueue records how requests were added: "now" or the delay, and
// the priority when added through the priority queue's AddWithOpts.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	adds []string
}

func (q *recordingQueue) Add(r reconcile.Request) { q.adds = append(q.adds, r.Name+" now") }
func (q *recordingQueue) AddAfter(r reconcile.Request, d time.Duration) {
	q.adds = append(q.adds, fmt.Sprintf("%s after %s", r.Name, d))
}

type recordingPriorityQueue struct{ recordingQueue }

func (q *recordingPriorityQueue) AddWithOpts(o priorityqueue.AddOpts, rs ...reconcile.Request) {
	for _, r := range rs {
		p := 0
		if o.Priority != nil {
			p = *o.Priority
		}
		q.adds = append(q.adds, fmt.Sprintf("%s after %s priority %d", r.Name, o.After, p))
	}
}

func (q *recordingPriorityQueue) GetWithPriority() (reconcile.Request, int, bool) {
	return reconcile.Request{}, 0, true
}

// Creations and status changes of a County's objects reach the queue after
// the delay (so a burst of them is one reconcile); deletions and edits of
// what the operator sets reach it at once (drift is reverted without
// waiting). The handler's priority (low for the initial list) is kept.
func TestOwnedEventsAreCoalesced(t *testing.T) {
	county := &v1alpha1.County{ObjectMeta: metav1.ObjectMeta{Name: "anji", UID: "u1"}}
	yes := true
	owned := func() *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "intake", Namespace: "xinfang-anji", Generation: 1,
			Labels: map[string]string{"a": "b"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "County", Name: county.Name,
				UID: county.UID, Controller: &yes}}}}
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(v1alpha1.GroupVersion.WithKind("County"), meta.RESTScopeRoot)
	h := coalesce(handler.EnqueueRequestForOwner(scheme, mapper, &v1alpha1.County{}, handler.OnlyControllerOwner()), 2*time.Second)
	ctx := context.Background()

	available := owned()
	available.Status.AvailableReplicas = 1
	relabelled := owned()
	relabelled.Labels = nil
	edited := owned()
	edited.Generation = 2
	claim := func(phase corev1.PersistentVolumeClaimPhase, class string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: owned().ObjectMeta,
			Spec:   corev1.PersistentVolumeClaimSpec{StorageClassName: &class},
			Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	for _, tc := range []struct {
		name string
		send func(q workqueue.TypedRateLimitingInterface[reconcile.Request])
		want string
	}{
		{"created", func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Create(ctx, event.CreateEvent{Object: owned()}, q)
		}, "anji after 2s"},
		{"status changed", func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, event.UpdateEvent{ObjectOld: owned(), ObjectNew: available}, q)
		}, "anji after 2s"},
		{"claim bound", func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, event.UpdateEvent{ObjectOld: claim(corev1.ClaimPending, "x"), ObjectNew: claim(corev1.ClaimBound, "x")}, q)
		}, "anji after 2s"},
		{"claim spec edited", func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, event.UpdateEvent{ObjectOld: claim(corev1.ClaimBound, "x"), ObjectNew: claim(corev1.ClaimBound, "y")}, q)
		}, "anji now"},
		{"labels removed", func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, event.UpdateEvent{ObjectOld: owned(), ObjectNew: relabelled}, q)
		}, "anji now"},
		{"spec edited", func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, event.UpdateEvent{ObjectOld: owned(), ObjectNew: edited}, q)
		}, "anji now"},
		{"deleted", func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Delete(ctx, event.DeleteEvent{Object: owned()}, q)
		}, "anji now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &recordingQueue{}
			tc.send(q)
			if len(q.adds) != 1 || q.adds[0] != tc.want {
				t.Fatalf("queued %v, want [%s]", q.adds, tc.want)
			}
		})
	}

	// Through controller-runtime's priority queue: delayed, and an object
	// of the initial list (an operator restart) keeps its low priority.
	pq := &recordingPriorityQueue{}
	h.Create(ctx, event.CreateEvent{Object: owned(), IsInInitialList: true}, pq)
	h.Create(ctx, event.CreateEvent{Object: owned()}, pq)
	want := []string{fmt.Sprintf("anji after 2s priority %d", handler.LowPriority), "anji after 2s priority 0"}
	if fmt.Sprint(pq.adds) != fmt.Sprint(want) {
		t.Fatalf("priority queue got %v, want %v", pq.adds, want)
	}
}
