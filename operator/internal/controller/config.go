package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// reconcileConfig applies the county ConfigMap — the services' county file,
// which they hot-reload; nothing else changes on a rules edit (the
// Deployments carry no hash of it).
//
// The services' own loader is stricter than the CRD's CEL rules (it also
// refuses, for example, supervision cycles). A spec it would refuse is not
// written: the services keep running the last valid rules, and ConfigReady
// says why.
func (r *CountyReconciler) reconcileConfig(ctx context.Context, c *v1alpha1.County, cm *corev1.ConfigMap, st *state) {
	if err := c.Spec.Spec.Validate(); err != nil {
		live := &corev1.ConfigMap{}
		if getErr := r.Client.Get(ctx, client.ObjectKeyFromObject(cm), live); getErr == nil {
			st.rulesVersion = live.Annotations[render.AnnotationRulesVersion]
		}
		st.set(CondConfigReady, metav1.ConditionFalse, ReasonInvalidRules,
			fmt.Sprintf("the services would refuse these rules, so the county file keeps the last valid ones: %v", err))
		return
	}
	u, err := r.apply(ctx, c, cm, owned)
	if err != nil {
		st.set(CondConfigReady, metav1.ConditionFalse, ReasonApplyFailed, err.Error())
		st.err(err)
		return
	}
	st.rulesVersion = u.GetAnnotations()[render.AnnotationRulesVersion]
	st.set(CondConfigReady, metav1.ConditionTrue, ReasonApplied,
		fmt.Sprintf("county file %s/%s holds rules version %s; the services reload it without a restart", cm.Namespace, cm.Name, st.rulesVersion))
}
