package controller

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ownedEventDelay is how long the reconcile of a County waits after the
// first status change or creation of one of its objects: the changes that
// come within that time are handled by the same reconcile.
//
// A county's objects change in bursts: the reconcile that creates them gets
// a creation event for each, and its four Deployments (and, under SQLite,
// its four volume claims) turn available one after the other within a
// second or two. Reconciled at every event, the County's status moves
// through "3 of 4 available", "2 of 4", ... with one status write each —
// and a County status write is the costliest write of a county: the API
// server decodes, validates (CEL rules over the whole spec) and re-encodes
// the whole County. Waiting two seconds after the first event costs at most
// two seconds of reporting latency and saves those writes.
//
// Changes that undo the operator's work — an owned object deleted, its
// spec, labels, annotations or owner references edited — are not delayed:
// the reconcile that reverts them runs at once.
const ownedEventDelay = 2 * time.Second

// coalesced wraps the handler that maps an owned object to its County:
// creations and status-only updates reach the queue after delay, anything
// else at once.
type coalesced struct {
	inner handler.EventHandler
	delay time.Duration
}

func coalesce(inner handler.EventHandler, delay time.Duration) handler.EventHandler {
	return coalesced{inner: inner, delay: delay}
}

func (h coalesced) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.inner.Create(ctx, e, delayed(q, h.delay))
}

func (h coalesced) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.ObjectOld != nil && e.ObjectNew != nil && statusOnly(e.ObjectOld, e.ObjectNew) {
		h.inner.Update(ctx, e, delayed(q, h.delay))
		return
	}
	h.inner.Update(ctx, e, q)
}

func (h coalesced) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.inner.Delete(ctx, e, q)
}

func (h coalesced) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.inner.Generic(ctx, e, q)
}

// statusOnly reports whether an update changed only what others report
// about an object (the kinds whose status the reconcile reads: a
// Deployment's availability, a volume claim's or namespace's phase), not
// what the operator sets.
func statusOnly(o, n client.Object) bool {
	if metadataChanged(o, n) {
		return false
	}
	switch n := n.(type) {
	case *appsv1.Deployment:
		return true // same generation: same spec
	case *corev1.PersistentVolumeClaim:
		old, ok := o.(*corev1.PersistentVolumeClaim)
		return ok && equality.Semantic.DeepEqual(old.Spec, n.Spec)
	case *corev1.Namespace:
		old, ok := o.(*corev1.Namespace)
		return ok && equality.Semantic.DeepEqual(old.Spec, n.Spec)
	}
	return false
}

// delayed makes every add of the handler an add after d, keeping the
// priority the handler gives (controller-runtime's priority queue: objects
// of the initial list are added with a low priority).
func delayed(q workqueue.TypedRateLimitingInterface[reconcile.Request], d time.Duration) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		return delayedPriorityQueue{PriorityQueue: pq, delay: d}
	}
	return delayedQueue{TypedRateLimitingInterface: q, delay: d}
}

type delayedPriorityQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
	delay time.Duration
}

func (q delayedPriorityQueue) Add(r reconcile.Request) {
	q.PriorityQueue.AddWithOpts(priorityqueue.AddOpts{After: q.delay}, r)
}

func (q delayedPriorityQueue) AddWithOpts(o priorityqueue.AddOpts, rs ...reconcile.Request) {
	if o.After == 0 && !o.RateLimited {
		o.After = q.delay
	}
	q.PriorityQueue.AddWithOpts(o, rs...)
}

type delayedQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	delay time.Duration
}

func (q delayedQueue) Add(r reconcile.Request) { q.AddAfter(r, q.delay) }
