package controller

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// ownedObjectChanged lets through the updates of an owned (or labelled)
// object that a reconcile acts on, and drops the status churn others cause:
// at 1,000 counties the deployment controller, the quota controller and the
// disruption controller update thousands of statuses, and each update let
// through is a reconcile of the county.
//
// Let through: a new generation (a spec edit of a kind that has one), a
// change of labels, annotations, owner references or deletion, and per kind:
//   - Deployment: a change of what WorkloadsAvailable reports (available or
//     not, and why), not every replica count on the way;
//   - ResourceQuota: a spec change (status.used moves with every pod);
//   - PersistentVolumeClaim: a spec or phase change (Bound, Lost);
//   - Namespace: a phase change (Terminating);
//   - PodDisruptionBudget, NetworkPolicy: nothing else (their generation
//     covers their spec; a PDB's status is the disruption controller's);
//   - every other kind (ConfigMap, ServiceAccount, Service, LimitRange):
//     any update, as they have no generation and nobody else writes them.
//
// Creations and deletions always pass.
type ownedObjectChanged struct{ predicate.Funcs }

func (ownedObjectChanged) Create(event.CreateEvent) bool   { return true }
func (ownedObjectChanged) Delete(event.DeleteEvent) bool   { return true }
func (ownedObjectChanged) Generic(event.GenericEvent) bool { return true }

func (ownedObjectChanged) Update(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	if o == nil || n == nil {
		return true
	}
	if metadataChanged(o, n) {
		return true
	}
	switch n := n.(type) {
	case *appsv1.Deployment:
		old, ok := o.(*appsv1.Deployment)
		if !ok {
			return true
		}
		wasAvail, wasWhy, _ := DeploymentAvailable(old)
		avail, why, _ := DeploymentAvailable(n)
		return wasAvail != avail || wasWhy != why
	case *corev1.ResourceQuota:
		old, ok := o.(*corev1.ResourceQuota)
		return !ok || !equality.Semantic.DeepEqual(old.Spec, n.Spec)
	case *corev1.PersistentVolumeClaim:
		old, ok := o.(*corev1.PersistentVolumeClaim)
		return !ok || old.Status.Phase != n.Status.Phase || !equality.Semantic.DeepEqual(old.Spec, n.Spec)
	case *corev1.Namespace:
		old, ok := o.(*corev1.Namespace)
		return !ok || old.Status.Phase != n.Status.Phase
	}
	if n.GetGeneration() > 0 {
		return false // the generation is unchanged: status only
	}
	return true
}

// metadataChanged: what every kind's reconcile cares about, generation
// included.
func metadataChanged(o, n client.Object) bool {
	return o.GetGeneration() != n.GetGeneration() ||
		!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
		!maps.Equal(o.GetLabels(), n.GetLabels()) ||
		!maps.Equal(o.GetAnnotations(), n.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(o.GetOwnerReferences(), n.GetOwnerReferences())
}
