package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// reconcileNetworkPolicies applies the county's NetworkPolicies
// (isolate-county: every pod, admitting the county's own pods and the
// monitoring namespace to metrics; allow-ingress-intake: the ingress
// namespace to intake — peers selected by kubernetes.io/metadata.name) and
// sets IsolationReady from them and the quota. A policy no longer rendered
// (say the ingress namespace option was unset) is pruned with the other
// leftovers, once the rendered ones are applied.
func (r *CountyReconciler) reconcileNetworkPolicies(ctx context.Context, c *v1alpha1.County, nps []*networkingv1.NetworkPolicy, quotaErr error, st *state) {
	objs := make([]client.Object, len(nps))
	names := make([]string, len(nps))
	for i, np := range nps {
		objs[i], names[i] = np, np.Name
	}
	if err := errors.Join(r.applyAll(ctx, c, objs, owned)...); err != nil {
		st.err(err)
		st.set(CondIsolationReady, metav1.ConditionFalse, ReasonApplyFailed, err.Error())
		return
	}
	st.policiesInPlace()
	if quotaErr != nil {
		st.set(CondIsolationReady, metav1.ConditionFalse, ReasonApplyFailed, quotaErr.Error())
		return
	}
	st.set(CondIsolationReady, metav1.ConditionTrue, ReasonPoliciesApplied,
		fmt.Sprintf("network policies %s, resource quota and limit range applied", strings.Join(names, ", ")))
}
