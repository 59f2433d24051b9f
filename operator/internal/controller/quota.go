package controller

import (
	"context"
	"errors"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// reconcileQuota applies the ResourceQuota and LimitRange that keep one
// county from starving the others. They are part of the county's isolation:
// the caller folds the result into IsolationReady.
func (r *CountyReconciler) reconcileQuota(ctx context.Context, c *v1alpha1.County, objs []client.Object, st *state) error {
	err := errors.Join(r.applyAll(ctx, c, objs, owned)...)
	if err != nil {
		st.err(err)
	}
	return err
}
