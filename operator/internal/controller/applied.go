package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
)

// appliedRecord remembers one server-side apply: what the operator sent and
// what the API server then held. The next reconcile compares the cached
// object with it and sends nothing when neither side changed — a county
// reconciled because one Deployment became available must not cost 25
// writes (an apply that changes nothing is still a request, a round trip
// and admission work on the API server).
type appliedRecord struct {
	desired string    // hash of the apply configuration sent
	uid     types.UID // of the object the apply produced
	rv      string    // its resourceVersion then (or when last found unchanged)
	// fingerprint is what must stay equal for the object to count as
	// unchanged when its resourceVersion moved on (others write its status):
	// the generation for kinds that have one, a hash of the spec for the
	// few without one whose status others write. Empty: the resourceVersion
	// must be equal.
	fingerprint string
}

// appliedMemo holds the records of one county, by kind/namespace/name.
type appliedMemo struct {
	mu      sync.Mutex
	records map[string]appliedRecord
}

func (m *appliedMemo) get(key string) (appliedRecord, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[key]
	return rec, ok
}

func (m *appliedMemo) put(key string, rec appliedRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records == nil {
		m.records = map[string]appliedRecord{}
	}
	m.records[key] = rec
}

func (m *appliedMemo) drop(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, key)
}

func (r *CountyReconciler) memo(county string) *appliedMemo {
	v, _ := r.applied.LoadOrStore(county, &appliedMemo{})
	return v.(*appliedMemo)
}

func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "" // never equal to a recorded hash: the apply is sent
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// fingerprint of a live object from the cache (see appliedRecord).
func fingerprint(o client.Object) string {
	if g := o.GetGeneration(); g > 0 {
		return "g" + strconv.FormatInt(g, 10)
	}
	switch o := o.(type) {
	case *corev1.ResourceQuota: // the quota controller writes status.used
		return "s" + hashJSON(o.Spec)
	case *corev1.PersistentVolumeClaim: // the volume controller writes status
		return "s" + hashJSON(o.Spec)
	case *corev1.Namespace:
		return "s" + hashJSON(o.Spec)
	}
	return ""
}

// metadataHolds reports whether live still carries every label, annotation
// and owner reference of the desired object: edits there bump neither the
// generation nor the spec.
func metadataHolds(desired, live client.Object) bool {
	ll, la := live.GetLabels(), live.GetAnnotations()
	for k, v := range desired.GetLabels() {
		if got, ok := ll[k]; !ok || got != v {
			return false
		}
	}
	for k, v := range desired.GetAnnotations() {
		if got, ok := la[k]; !ok || got != v {
			return false
		}
	}
	refs := live.GetOwnerReferences()
	for _, want := range desired.GetOwnerReferences() {
		found := false
		for _, got := range refs {
			if got.UID == want.UID && got.Kind == want.Kind && (got.Controller != nil && *got.Controller) == (want.Controller != nil && *want.Controller) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(desired.GetOwnerReferences()) == 0 {
		// Unowned on purpose (the namespace, data under Retain): an owner
		// reference the operator set earlier must go.
		for _, got := range refs {
			if got.Kind == "County" {
				return false
			}
		}
	}
	return true
}

// together runs fns concurrently and returns when all have.
func together(fns ...func()) {
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	wg.Wait()
}

// applyAll applies objs concurrently; the errors are in objs' order (nil
// for each success).
func (r *CountyReconciler) applyAll(ctx context.Context, c *v1alpha1.County, objs []client.Object, own ownership) []error {
	errs := make([]error, len(objs))
	fns := make([]func(), len(objs))
	for i, o := range objs {
		fns[i] = func() { _, errs[i] = r.apply(ctx, c, o, own) }
	}
	together(fns...)
	return errs
}
