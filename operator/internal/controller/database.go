package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// reconcileDatabase wires each service's store and sets DatabaseReady.
//
// SQLite: one PersistentVolumeClaim per service. Under Retain a claim has no
// owner reference (the garbage collector would otherwise delete the county's
// records with the County) and it is never pruned; under Delete it is owned.
// DatabaseReady is True when every claim is Bound (VolumesBound) and also
// while one is Pending (VolumesPending): with a WaitForFirstConsumer storage
// class a claim binds only once its pod is scheduled, so Pending is the
// normal state before the first rollout. A Lost claim is False.
//
// PostgreSQL: the bureau creates the Secret (spec.database.secretRef, default
// "database") in the county's namespace with the connection URL under "url";
// the operator only checks it and never reads the URL into anything but the
// check.
func (r *CountyReconciler) reconcileDatabase(ctx context.Context, c *v1alpha1.County, pvcs []*corev1.PersistentVolumeClaim, st *state) {
	if c.Spec.Database.Type == "postgres" {
		r.checkDatabaseSecret(ctx, c, st)
		return
	}
	own := unowned
	if c.Spec.DeletionPolicy == v1alpha1.DeletionPolicyDelete {
		own = owned
	}
	var bound, pending, lost []string
	applied := make([]client.Object, len(pvcs))
	errs := make([]error, len(pvcs))
	fns := make([]func(), len(pvcs))
	for i, pvc := range pvcs {
		fns[i] = func() { applied[i], errs[i] = r.apply(ctx, c, pvc, own) }
	}
	together(fns...)
	if err := errors.Join(errs...); err != nil {
		st.err(err)
		st.set(CondDatabaseReady, metav1.ConditionFalse, ReasonApplyFailed, err.Error())
		return
	}
	for i, pvc := range pvcs {
		u := applied[i]
		switch corev1.PersistentVolumeClaimPhase(objectPhase(u)) {
		case corev1.ClaimBound:
			bound = append(bound, pvc.Name)
		case corev1.ClaimLost:
			lost = append(lost, pvc.Name)
		default:
			pending = append(pending, pvc.Name)
		}
	}
	switch {
	case len(lost) > 0:
		st.set(CondDatabaseReady, metav1.ConditionFalse, ReasonVolumeLost,
			"SQLite volume claims lost their volume: "+strings.Join(lost, ", "))
	case len(pending) > 0:
		st.set(CondDatabaseReady, metav1.ConditionTrue, ReasonVolumesPending,
			fmt.Sprintf("SQLite volume claims %s are Pending (they bind when the pods are scheduled); %d Bound", strings.Join(pending, ", "), len(bound)))
	default:
		st.set(CondDatabaseReady, metav1.ConditionTrue, ReasonVolumesBound,
			"SQLite volume claims Bound: "+strings.Join(bound, ", "))
	}
}

func (r *CountyReconciler) checkDatabaseSecret(ctx context.Context, c *v1alpha1.County, st *state) {
	key := client.ObjectKey{Namespace: render.Namespace(c), Name: render.DatabaseSecret(c)}
	found := func() {
		st.set(CondDatabaseReady, metav1.ConditionTrue, ReasonSecretFound,
			fmt.Sprintf("PostgreSQL URL found in Secret %s/%s", key.Namespace, key.Name))
	}
	// Read through the API server (Secrets are not cached), so not on
	// every reconcile: a found URL is checked again after Topics.Resync.
	tag := string(st.namespaceUID) + "/" + key.Name
	if r.seen(c.Name, seenDatabase, tag) {
		found()
		return
	}
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, key, s); err != nil {
		if !apierrors.IsNotFound(err) {
			st.err(fmt.Errorf("read database secret: %w", err))
			st.set(CondDatabaseReady, metav1.ConditionUnknown, ReasonSecretMissing, err.Error())
			return
		}
		st.set(CondDatabaseReady, metav1.ConditionFalse, ReasonSecretMissing,
			fmt.Sprintf("create Secret %s in namespace %s with the PostgreSQL URL under key %q", key.Name, key.Namespace, render.DatabaseURLKey))
		st.requeue(requeueWaiting)
		return
	}
	if len(s.Data[render.DatabaseURLKey]) == 0 {
		st.set(CondDatabaseReady, metav1.ConditionFalse, ReasonSecretKeyEmpty,
			fmt.Sprintf("Secret %s/%s has no key %q", key.Namespace, key.Name, render.DatabaseURLKey))
		st.requeue(requeueWaiting)
		return
	}
	r.see(c.Name, seenDatabase, tag)
	found()
}
