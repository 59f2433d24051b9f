package controller

import (
	"context"
	"errors"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"xinfang.io/operator/internal/render"
)

// Earlier operator versions rendered four policies (default-deny,
// allow-same-namespace, allow-monitoring, allow-ingress-intake). After an
// upgrade the first three are pruned — but only once isolate-county, which
// replaces them, is applied: while its apply fails, the old deny stays and
// the namespace is never open.
func TestEarlierPoliciesArePrunedOnceReplaced(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := manualCounty(t, "np-upgrade", nil)
	r := manualReconciler(testOpts)
	reconcileOnce(t, r, c.Name)
	ns := render.Namespace(c)
	old := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: ns, Labels: map[string]string{render.LabelCounty: c.Name}},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}
	if err := controllerutil.SetControllerReference(getCounty(t, c.Name), old, scheme); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	iso := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.IsolationPolicy}}
	if err := k8s.Delete(ctx, iso); err != nil {
		t.Fatal(err)
	}

	// The replacement cannot be applied: the old policy stays.
	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	failing := manualReconciler(testOpts)
	failing.Client = interceptor.NewClient(direct, interceptor.Funcs{
		Apply: func(ctx context.Context, cl client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if u, ok := obj.(interface{ GetName() string }); ok && u.GetName() == render.IsolationPolicy {
				return errors.New("injected: apply refused")
			}
			return cl.Apply(ctx, obj, opts...)
		},
	})
	if _, err := failing.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: c.Name}}); err == nil {
		t.Fatal("reconcile succeeded though the isolation policy was refused")
	}
	if !exists(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-deny"}}) {
		t.Fatal("the earlier deny was pruned before its replacement was applied")
	}

	// Applied: the earlier policy goes.
	reconcileOnce(t, r, c.Name)
	if !exists(t, iso) {
		t.Fatal("no isolation policy")
	}
	if exists(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-deny"}}) {
		t.Fatal("the earlier deny was kept beside isolate-county")
	}
}
