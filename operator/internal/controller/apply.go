package controller

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"xinfang.io/operator/api/v1alpha1"
)

// FieldOwner is the server-side apply field manager of everything the
// operator writes.
const FieldOwner = "xinfang-operator"

// ownership says whether an applied object carries the County as its
// controller owner. Owned objects are garbage-collected with the County and
// watched for drift; unowned ones (the namespace, and data under Retain)
// outlive it.
type ownership bool

const (
	owned   ownership = true
	unowned ownership = false
)

// apply server-side applies obj (a rendered object with its TypeMeta set) as
// the operator's field manager, forcing ownership of every field it sets, so
// a manual edit of one of those fields is reverted. Fields the operator no
// longer sets are removed by the API server (that is how an owner reference
// disappears when the deletion policy changes to Retain). It returns the
// object as the API server stored it.
func (r *CountyReconciler) apply(ctx context.Context, c *v1alpha1.County, obj client.Object, own ownership) (*unstructured.Unstructured, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" {
		return nil, fmt.Errorf("apply %T %s: no kind set", obj, obj.GetName())
	}
	if own {
		if err := controllerutil.SetControllerReference(c, obj, r.Scheme); err != nil {
			return nil, fmt.Errorf("owner reference on %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
	} else {
		obj.SetOwnerReferences(nil)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: m}
	// An apply configuration names only the fields the operator means to
	// own: no status, no server-set metadata.
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	u.SetGroupVersionKind(gvk)
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return nil, fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return u, nil
}

// ownedBy reports whether obj's controller is the County c (by UID, so a
// County deleted and recreated under the same name does not adopt the old
// one's leftovers by accident).
func ownedBy(obj metav1.Object, c *v1alpha1.County) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == c.UID && ref.Kind == "County" && ref.APIVersion == v1alpha1.GroupVersion.String()
}
