package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// reconcileNamespace applies the county's namespace. The namespace never
// carries an owner reference: the garbage collector would otherwise delete it
// — and every volume in it — when the County is deleted, whatever the
// deletion policy says. Under Delete the finalizer removes it instead.
//
// It reports false when nothing else can be applied (the namespace is being
// deleted, or the apply failed).
func (r *CountyReconciler) reconcileNamespace(ctx context.Context, c *v1alpha1.County, st *state) bool {
	ns := render.NamespaceObject(c)
	u, err := r.apply(ctx, c, ns, unowned)
	if err != nil {
		st.set(CondNamespaceReady, metav1.ConditionFalse, ReasonApplyFailed, err.Error())
		st.err(err)
		return false
	}
	if u.GetDeletionTimestamp() != nil || objectPhase(u) == string(corev1.NamespaceTerminating) {
		// Someone deleted it: nothing can be created in it until it is gone,
		// then the next reconcile creates it afresh.
		st.set(CondNamespaceReady, metav1.ConditionFalse, ReasonTerminating,
			fmt.Sprintf("namespace %s is being deleted; it is recreated once it is gone", ns.Name))
		st.requeue(requeueWaiting)
		return false
	}
	st.namespaceUID = u.GetUID()
	st.set(CondNamespaceReady, metav1.ConditionTrue, ReasonApplied, "namespace "+ns.Name+" is active")
	return true
}

// objectPhase is status.phase of an applied or cached object.
func objectPhase(o client.Object) string {
	switch o := o.(type) {
	case *corev1.Namespace:
		return string(o.Status.Phase)
	case *corev1.PersistentVolumeClaim:
		return string(o.Status.Phase)
	case *unstructured.Unstructured:
		phase, _, _ := unstructured.NestedString(o.Object, "status", "phase")
		return phase
	}
	return ""
}
