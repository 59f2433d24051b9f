package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// Finalizer is set on a County with deletionPolicy Delete: before the County
// goes, the operator deletes the county's namespace (with its volumes, the
// intake keys and every owned object) and its Kafka topics (the admin API,
// or the KafkaTopic objects under Strimzi). Under Retain (the default) there
// is no finalizer; deleting the County removes the owned workloads through
// the garbage collector, and the namespace with its PersistentVolumeClaims and
// the intake key Secret, and the topics, stay.
//
// The finalizer runs the spec as it is at deletion time: patching
// deletionPolicy back to Retain on a County being deleted keeps everything.
// A Paused County is not cleaned up until it is Active again.
//
// Force-removal — when Kafka is gone for good or the operator is not running
// — for the docs:
//
//	kubectl patch county <name> --type=json \
//	  -p='[{"op":"remove","path":"/metadata/finalizers"}]'
//
// after which the County disappears at once and nothing is cleaned up: delete
// the namespace xinfang-<name> and the topics xinfang.<name>.* (or their
// KafkaTopic objects) by hand if they should go.
const Finalizer = "xinfang.io/cleanup"

// syncFinalizer adds the finalizer under Delete and removes it under Retain.
func (r *CountyReconciler) syncFinalizer(ctx context.Context, c *v1alpha1.County) error {
	want := c.Spec.DeletionPolicy == v1alpha1.DeletionPolicyDelete
	if controllerutil.ContainsFinalizer(c, Finalizer) == want {
		return nil
	}
	orig := c.DeepCopy()
	if want {
		controllerutil.AddFinalizer(c, Finalizer)
	} else {
		controllerutil.RemoveFinalizer(c, Finalizer)
	}
	if err := r.Client.Patch(ctx, c, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("update finalizer: %w", err)
	}
	return nil
}

// finalize handles a County being deleted.
func (r *CountyReconciler) finalize(ctx context.Context, c *v1alpha1.County) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(c, Finalizer) {
		return ctrl.Result{}, nil // Retain: nothing to clean up, nothing blocks
	}
	if c.Spec.DeletionPolicy != v1alpha1.DeletionPolicyDelete {
		// Switched to Retain after the deletion began: keep everything.
		return ctrl.Result{}, r.removeFinalizer(ctx, c)
	}
	if c.Spec.Reconciliation == v1alpha1.ReconciliationPaused {
		return ctrl.Result{}, r.markPaused(ctx, c, "the County is being deleted but reconciliation is paused: its namespace and topics are deleted once spec.reconciliation is Active (or remove the finalizer by hand, see the docs)")
	}
	// The namespace first, so the services stop before their topics go.
	// Each deletion only has to be accepted: the namespace controller
	// empties and removes the namespace in its own time (minutes, with
	// volumes), Kafka deletes the topics' data in its own; the County need
	// not wait for either.
	ns := render.Namespace(c)
	if err := r.deleteNamespace(ctx, ns); err != nil {
		return ctrl.Result{}, r.deletionFailed(ctx, c, CondNamespaceReady, fmt.Errorf("delete namespace %s: %w", ns, err))
	}
	if err := r.deleteTopics(ctx, c); err != nil {
		return ctrl.Result{}, r.deletionFailed(ctx, c, CondTopicsReady, fmt.Errorf("delete topics: %w", err))
	}
	r.event(c, false, EventCleanedUp, "Delete", "deletion of namespace %s and of the topics %s accepted (deletionPolicy Delete)",
		ns, strings.Join(TopicNames(c.Name), ", "))
	return ctrl.Result{}, r.removeFinalizer(ctx, c)
}

// deleteNamespace asks for the namespace's deletion once. A namespace
// already being deleted counts as accepted, whatever a second request would
// answer (the API server returns it unchanged; older releases refused
// it with a Conflict, "the system is ensuring all content is removed"):
// waiting for it to be gone would hold the County until the namespace
// controller has emptied it — and for ever where there is none.
func (r *CountyReconciler) deleteNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, ns); err == nil && ns.DeletionTimestamp != nil {
		return nil
	}
	// Not in the cache (say its labels were removed) is no proof it is gone:
	// ask the API server.
	ns.Name = name
	err := r.Client.Delete(ctx, ns, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // a Conflict: the cache was behind, the deletion had begun
	}
	return err
}

// deletionFailed records why the cleanup is stuck and returns err, so the
// controller retries with backoff.
func (r *CountyReconciler) deletionFailed(ctx context.Context, c *v1alpha1.County, typ string, err error) error {
	cond := metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: ReasonDeleting, Message: err.Error(), ObservedGeneration: c.Generation}
	ready := metav1.Condition{Type: CondReady, Status: metav1.ConditionFalse, Reason: ReasonDeleting,
		Message: "cleanup before deletion failed (retrying): " + err.Error(), ObservedGeneration: c.Generation}
	_ = r.patchStatus(ctx, c, func(st *v1alpha1.CountyStatus) {
		setCondition(st, cond)
		setCondition(st, ready)
	})
	return err
}

func (r *CountyReconciler) removeFinalizer(ctx context.Context, c *v1alpha1.County) error {
	orig := c.DeepCopy()
	if !controllerutil.RemoveFinalizer(c, Finalizer) {
		return nil
	}
	err := r.Client.Patch(ctx, c, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
