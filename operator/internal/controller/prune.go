package controller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// prunable are the kinds render produces inside the county's namespace, with
// their list types.
var prunable = []struct {
	kind string
	list func() client.ObjectList
}{
	{"ConfigMap", func() client.ObjectList { return &corev1.ConfigMapList{} }},
	{"ResourceQuota", func() client.ObjectList { return &corev1.ResourceQuotaList{} }},
	{"LimitRange", func() client.ObjectList { return &corev1.LimitRangeList{} }},
	{"NetworkPolicy", func() client.ObjectList { return &networkingv1.NetworkPolicyList{} }},
	{"ServiceAccount", func() client.ObjectList { return &corev1.ServiceAccountList{} }},
	{"PersistentVolumeClaim", func() client.ObjectList { return &corev1.PersistentVolumeClaimList{} }},
	{"Deployment", func() client.ObjectList { return &appsv1.DeploymentList{} }},
	{"Service", func() client.ObjectList { return &corev1.ServiceList{} }},
	{"PodDisruptionBudget", func() client.ObjectList { return &policyv1.PodDisruptionBudgetList{} }},
}

// prune deletes the objects this County owns that render no longer
// produces (for example the ingress policy once the ingress namespace
// option is unset, or the volume claims of a county moved to PostgreSQL
// under Delete). Only objects whose controller is this County are
// candidates, so an object someone else created in the namespace is never
// touched, and neither is a claim under Retain (it has no owner reference
// and is skipped explicitly as well).
//
// NetworkPolicies are pruned only when this reconcile applied every
// rendered one (policiesApplied): a policy that a renamed one replaces
// (an upgrade from an operator that rendered four) goes only once its
// replacement is in place, so the namespace is never open in between.
//
// It lists from the cache only: no request unless something is deleted.
func (r *CountyReconciler) prune(ctx context.Context, c *v1alpha1.County, keep []client.Object, policiesApplied bool) error {
	want := map[string]bool{}
	for _, o := range keep {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
	}
	var errs []error
	for _, p := range prunable {
		if p.kind == "PersistentVolumeClaim" && c.Spec.DeletionPolicy != v1alpha1.DeletionPolicyDelete {
			continue
		}
		if p.kind == "NetworkPolicy" && !policiesApplied {
			continue
		}
		list := p.list()
		if err := r.Client.List(ctx, list, client.InNamespace(render.Namespace(c)), client.MatchingLabels{render.LabelCounty: c.Name}); err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", p.kind, err))
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, item := range items {
			o, ok := item.(client.Object)
			if !ok || want[p.kind+"/"+o.GetName()] || !ownedBy(o, c) || o.GetDeletionTimestamp() != nil {
				continue
			}
			uid := o.GetUID()
			err := r.Client.Delete(ctx, o, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("prune %s %s: %w", p.kind, o.GetName(), err))
			}
		}
	}
	return errors.Join(errs...)
}
