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
	var errs []error
	for _, o := range objs {
		if _, err := r.apply(ctx, c, o, owned); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		st.err(err)
	}
	return err
}
