package controller

import (
	"context"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
// disappears when the deletion policy changes to Retain).
//
// It returns the object as the API server holds it: the apply's answer, or,
// when the apply would change nothing (see appliedRecord), the cached
// object without any request.
func (r *CountyReconciler) apply(ctx context.Context, c *v1alpha1.County, obj client.Object, own ownership) (client.Object, error) {
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
	// The rendered object itself is hashed (what is sent follows from it),
	// before the costlier conversion that only a request needs.
	memo, key, desired := r.memo(c.Name), gvk.Kind+"/"+obj.GetNamespace()+"/"+obj.GetName(), hashJSON(obj)
	if live, ok := r.unchanged(ctx, memo, key, desired, gvk, obj); ok {
		return live, nil
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
		memo.drop(key)
		return nil, fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	rec := appliedRecord{desired: desired, uid: u.GetUID(), rv: u.GetResourceVersion()}
	if g := u.GetGeneration(); g > 0 {
		rec.fingerprint = "g" + strconv.FormatInt(g, 10)
	} else if statusByOthers[gvk.Kind] {
		// Others write its status at once (the quota admission and
		// controller on the county's first pods): remember its spec from
		// the apply's answer, or the next reconcile would find a newer
		// resourceVersion, no fingerprint, and apply again.
		if o, err := r.Scheme.New(gvk); err == nil {
			if typed, ok := o.(client.Object); ok && runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed) == nil {
				rec.fingerprint = fingerprint(typed)
			}
		}
	}
	memo.put(key, rec)
	return u, nil
}

// statusByOthers are the kinds without a generation whose status others
// write (see fingerprint).
var statusByOthers = map[string]bool{"ResourceQuota": true, "PersistentVolumeClaim": true, "Namespace": true}

// unchanged reports whether the apply of desired can be skipped: the
// operator applied the same configuration before and the cached object is
// still what that apply left (same object, same resourceVersion — or, for an
// object whose status others write, the same generation or spec — and every
// label, annotation and owner reference the operator sets still there).
// Only kinds the manager caches are considered: anything else would be a
// request of its own.
func (r *CountyReconciler) unchanged(ctx context.Context, memo *appliedMemo, key, desired string, gvk schema.GroupVersionKind, u client.Object) (client.Object, bool) {
	rec, ok := memo.get(key)
	if !ok || rec.desired != desired {
		return nil, false
	}
	if !cachedKinds[gvk.Kind] || gvk.Group != cachedGroups[gvk.Kind] {
		return nil, false
	}
	o, err := r.Scheme.New(gvk)
	if err != nil {
		return nil, false
	}
	live, ok := o.(client.Object)
	if !ok || r.Client.Get(ctx, client.ObjectKeyFromObject(u), live) != nil {
		return nil, false
	}
	if live.GetUID() != rec.uid || live.GetDeletionTimestamp() != nil || !metadataHolds(u, live) {
		return nil, false
	}
	if live.GetResourceVersion() == rec.rv {
		if rec.fingerprint == "" {
			// The cache holds exactly what the apply produced: remember
			// what must stay equal when others write its status.
			rec.fingerprint = fingerprint(live)
			memo.put(key, rec)
		}
		return live, true
	}
	if fp := fingerprint(live); fp != "" && fp == rec.fingerprint {
		rec.rv = live.GetResourceVersion()
		memo.put(key, rec)
		return live, true
	}
	return nil, false
}

// cachedKinds are the kinds the manager watches (SetupWithManager), by kind
// and API group: their Get is served from the cache.
var (
	cachedKinds = map[string]bool{
		"Namespace": true, "ConfigMap": true, "ResourceQuota": true, "LimitRange": true, "NetworkPolicy": true,
		"ServiceAccount": true, "PersistentVolumeClaim": true, "Deployment": true, "Service": true, "PodDisruptionBudget": true,
	}
	cachedGroups = map[string]string{
		"NetworkPolicy": "networking.k8s.io", "Deployment": "apps", "PodDisruptionBudget": "policy",
	}
)

// asUnstructured returns o, an apply's answer or a cached typed object, as
// unstructured (for reading status fields of either the same way).
func asUnstructured(o client.Object) (*unstructured.Unstructured, error) {
	if u, ok := o.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// ownedBy reports whether obj's controller is the County c (by UID, so a
// County deleted and recreated under the same name does not adopt the old
// one's leftovers by accident).
func ownedBy(obj metav1.Object, c *v1alpha1.County) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == c.UID && ref.Kind == "County" && ref.APIVersion == v1alpha1.GroupVersion.String()
}
