package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

func TestDeploymentAvailable(t *testing.T) {
	two := int32(2)
	base := func() *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: 3},
			Spec:       appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}},
		}
	}
	cases := map[string]struct {
		mutate func(*appsv1.Deployment)
		ok     bool
		reason string
	}{
		"available":                 {func(*appsv1.Deployment) {}, true, ReasonAvailable},
		"fresh (no controller yet)": {func(d *appsv1.Deployment) { d.Status = appsv1.DeploymentStatus{} }, false, ReasonProgressing},
		"new generation unobserved": {func(d *appsv1.Deployment) { d.Generation = 4 }, false, ReasonProgressing},
		"rolling":                   {func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }, false, ReasonProgressing},
		"old replica left":          {func(d *appsv1.Deployment) { d.Status.Replicas = 3 }, false, ReasonProgressing},
		"not yet available":         {func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }, false, ReasonProgressing},
		"stuck": {func(d *appsv1.Deployment) {
			d.Status.UpdatedReplicas = 1
			d.Status.Conditions = append(d.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"})
		}, false, ReasonDeadlineExceeded},
	}
	for name, tc := range cases {
		d := base()
		tc.mutate(d)
		ok, reason, msg := DeploymentAvailable(d)
		if ok != tc.ok || reason != tc.reason || msg == "" {
			t.Errorf("%s: %v %s %q, want %v %s", name, ok, reason, msg, tc.ok, tc.reason)
		}
	}
}

func TestReadySummary(t *testing.T) {
	c := &v1alpha1.County{ObjectMeta: metav1.ObjectMeta{Generation: 7}}
	st := newState(c)
	for _, typ := range concerns {
		st.set(typ, metav1.ConditionTrue, ReasonApplied, "ok")
	}
	if r := st.summary(); r.Status != metav1.ConditionTrue || r.Reason != ReasonReady || r.ObservedGeneration != 7 {
		t.Fatalf("all true: %+v", r)
	}
	st.set(CondIsolationReady, metav1.ConditionFalse, ReasonApplyFailed, "boom")
	st.set(CondTopicsReady, metav1.ConditionFalse, ReasonKafkaUnreachable, "no kafka")
	if r := st.summary(); r.Status != metav1.ConditionFalse || r.Reason != ReasonKafkaUnreachable || !strings.HasPrefix(r.Message, "TopicsReady: ") {
		t.Fatalf("first failing concern: %+v", r)
	}
	delete(st.conds, CondNamespaceReady)
	if r := st.summary(); r.Status != metav1.ConditionFalse || r.Reason != ReasonKafkaUnreachable {
		t.Fatalf("a failure wins over a concern not evaluated: %+v", r)
	}
	st.set(CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated, "ok")
	st.set(CondIsolationReady, metav1.ConditionTrue, ReasonPoliciesApplied, "ok")
	if r := st.summary(); r.Status != metav1.ConditionUnknown || r.Reason != ReasonReconciling {
		t.Fatalf("missing concern: %+v", r)
	}
	st.set(CondNamespaceReady, metav1.ConditionFalse, ReasonApplyFailed, "boom")
	var status v1alpha1.CountyStatus
	r := st.summary()
	st.applyTo(&status, &r)
	if status.ObservedGeneration != 7 || meta.FindStatusCondition(status.Conditions, CondTopicsReady).ObservedGeneration != 7 {
		t.Fatalf("status %+v", status)
	}
}

func images(t *testing.T, ns string) map[string]string {
	t.Helper()
	list := &appsv1.DeploymentList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range list.Items {
		out[d.Name] = d.Spec.Template.Spec.Containers[0].Image
	}
	return out
}

func allImages(m map[string]string, want string) bool {
	for _, img := range m {
		if !strings.HasSuffix(img, want) {
			return false
		}
	}
	return len(m) == 4
}

// An operator upgrade (new default image) rolls out county by county: with
// one rollout slot, the second county keeps its running template until the
// first is available again — which, without a deployment controller here,
// never happens. A spec edit of the waiting county is applied at once.
// These counties are invisible to the suite's manager; the test runs the
// reconciles itself, through a client without a cache.
func TestUpgradeRollsOutGradually(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	manual := func(name string) *v1alpha1.County {
		c := sample(t, name)
		c.Labels = map[string]string{manualLabel: "true"}
		return createCounty(t, c)
	}
	newReconciler := func(tag string, rollouts int) *CountyReconciler {
		opts := testOpts
		opts.DefaultImageTag = tag
		return &CountyReconciler{Client: k8s, APIReader: k8s, Scheme: scheme, RESTMapper: k8s.RESTMapper(), Options: opts,
			Topics: TopicOptions{Partitions: 6}, MaxConcurrentRollouts: rollouts, metrics: newCountyMetrics(nil)}
	}
	reconcileOnce := func(r *CountyReconciler, name string) {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}); err != nil {
			t.Fatalf("reconcile %s: %v", name, err)
		}
	}
	a, b := manual("upgrade-a"), manual("upgrade-b")
	old := newReconciler("v0.1.0", 0)
	// Twice each: the first reconcile creates the Deployments and leaves
	// the status to the next (firstStatusWaits); an upgrade is told from a
	// spec edit by the status having observed the County's generation.
	for range 2 {
		reconcileOnce(old, a.Name)
		reconcileOnce(old, b.Name)
	}
	if !allImages(images(t, "xinfang-upgrade-a"), ":v0.1.0") || !allImages(images(t, "xinfang-upgrade-b"), ":v0.1.0") {
		t.Fatalf("before the upgrade: %v %v", images(t, "xinfang-upgrade-a"), images(t, "xinfang-upgrade-b"))
	}

	upgraded := newReconciler("v0.2.0", 1)
	reconcileOnce(upgraded, a.Name)
	reconcileOnce(upgraded, b.Name)
	if got := images(t, "xinfang-upgrade-a"); !allImages(got, ":v0.2.0") {
		t.Fatalf("first county not upgraded: %v", got)
	}
	if got := images(t, "xinfang-upgrade-b"); !allImages(got, ":v0.1.0") {
		t.Fatalf("second county upgraded while the first is still rolling out: %v", got)
	}
	cb := getCounty(t, b.Name)
	if cond, err := condition(cb, CondWorkloadsAvailable); err != nil || cond.Reason != ReasonRolloutQueued {
		t.Fatalf("waiting county: %v %v", cond, err)
	}
	if h := upgraded.rollouts.holders(); len(h) != 1 || h[0] != a.Name {
		t.Fatalf("slot holders %v", h)
	}
	// Its other objects are still kept in line meanwhile.
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-upgrade-b", Name: render.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}

	// The bureau edits the waiting county: its own change goes through.
	updateCounty(t, b.Name, func(c *v1alpha1.County) { c.Spec.DisplayName = "安吉县（测试）" })
	reconcileOnce(upgraded, b.Name)
	if got := images(t, "xinfang-upgrade-b"); !allImages(got, ":v0.2.0") {
		t.Fatalf("a spec edit was held back by the rollout gate: %v", got)
	}

	// A deleted county gives its slot back.
	if err := k8s.Delete(ctx, getCounty(t, a.Name)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "county a gone", func() error {
		_, err := upgraded.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: a.Name}})
		if err != nil {
			return err
		}
		if h := upgraded.rollouts.holders(); len(h) != 0 {
			return errHolders(h)
		}
		return nil
	})
}

type errHolders []string

func (h errHolders) Error() string { return "slot holders " + strings.Join(h, ",") }

func manualCounty(t *testing.T, name string, mutate func(*v1alpha1.County)) *v1alpha1.County {
	t.Helper()
	c := sample(t, name)
	c.Labels = map[string]string{manualLabel: "true"}
	if mutate != nil {
		mutate(c)
	}
	return createCounty(t, c)
}

func manualReconciler(opts render.Options) *CountyReconciler {
	return &CountyReconciler{Client: k8s, APIReader: k8s, Scheme: scheme, RESTMapper: k8s.RESTMapper(), Options: opts,
		Topics: TopicOptions{Partitions: 6}, metrics: newCountyMetrics(nil)}
}

func reconcileOnce(t *testing.T, r *CountyReconciler, name string) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}); err != nil {
		t.Fatalf("reconcile %s: %v", name, err)
	}
}

func exists(t *testing.T, o client.Object) bool {
	t.Helper()
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(o), o)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil && o.GetDeletionTimestamp() == nil
}

// An object no longer rendered is pruned: the ingress policy once the
// operator runs without an ingress namespace.
func TestUnsetOptionPrunesItsPolicy(t *testing.T) {
	needEnv(t)
	c := manualCounty(t, "prune-opt", nil)
	reconcileOnce(t, manualReconciler(testOpts), c.Name)
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "xinfang-prune-opt", Name: "allow-ingress-intake"}}
	if !exists(t, np) {
		t.Fatal("no ingress policy with an ingress namespace")
	}
	opts := testOpts
	opts.IngressNamespace = ""
	reconcileOnce(t, manualReconciler(opts), c.Name)
	if exists(t, np) {
		t.Fatal("ingress policy kept after the option was unset")
	}
	if !exists(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "xinfang-prune-opt", Name: render.IsolationPolicy}}) {
		t.Fatal("isolation policy pruned")
	}
}

// A service gets a disruption budget while it runs more than one replica:
// scaled down to one, its budget is pruned; scaled up, it gets one.
func TestDisruptionBudgetFollowsReplicas(t *testing.T) {
	needEnv(t)
	two := int32(2)
	c := manualCounty(t, "pdb", func(c *v1alpha1.County) {
		c.Spec.Database = v1alpha1.DatabaseSpec{Type: "postgres"}
		one := int32(1)
		c.Spec.Services.Intake.Replicas = &two
		c.Spec.Services.Routing.Replicas = &one
		c.Spec.Services.Supervision.Replicas = &one
		c.Spec.Services.Statistics.Replicas = &one
	})
	r := manualReconciler(testOpts)
	reconcileOnce(t, r, c.Name)
	pdb := func(name string) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "xinfang-pdb", Name: name}}
	}
	intake := pdb("intake")
	if !exists(t, intake) {
		t.Fatal("no budget for intake with two replicas")
	}
	if intake.Spec.MinAvailable == nil || intake.Spec.MinAvailable.IntValue() != 1 || !ownedBy(intake, getCounty(t, c.Name)) {
		t.Fatalf("intake budget: minAvailable %v, owners %v", intake.Spec.MinAvailable, intake.OwnerReferences)
	}
	for _, s := range []string{"routing", "supervision", "statistics"} {
		if exists(t, pdb(s)) {
			t.Fatalf("a budget for %s with one replica", s)
		}
	}
	updateCounty(t, c.Name, func(c *v1alpha1.County) {
		one := int32(1)
		c.Spec.Services.Intake.Replicas = &one
		c.Spec.Services.Routing.Replicas = &two
	})
	reconcileOnce(t, r, c.Name)
	if exists(t, pdb("intake")) {
		t.Fatal("intake's budget kept after scaling it to one replica")
	}
	if !exists(t, pdb("routing")) {
		t.Fatal("no budget for routing after scaling it to two replicas")
	}
}

// applyCounter counts the server-side applies a reconciler sends, by kind.
type applyCounter struct {
	mu     sync.Mutex
	byKind map[string]int
}

func (a *applyCounter) client(t *testing.T) client.Client {
	t.Helper()
	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(direct, interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			kind := "?"
			if k, ok := obj.(interface{ GetKind() string }); ok {
				kind = k.GetKind()
			}
			a.mu.Lock()
			a.byKind[kind]++
			a.mu.Unlock()
			return c.Apply(ctx, obj, opts...)
		},
	})
}

func (a *applyCounter) take() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.byKind
	a.byKind = map[string]int{}
	return out
}

// A status others write right after the apply (the quota's usage, written
// by quota admission with the county's first pods) is no reason to apply
// the object again: the next reconcile sends nothing.
func TestStatusWrittenByOthersCostsNoApply(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := manualCounty(t, "quota-status", nil)
	counter := &applyCounter{byKind: map[string]int{}}
	r := manualReconciler(testOpts)
	r.Client = counter.client(t)
	reconcileOnce(t, r, c.Name)
	if first := counter.take(); first["ResourceQuota"] != 1 || first["Deployment"] != 4 {
		t.Fatalf("first reconcile applied %v", first)
	}
	q := &corev1.ResourceQuota{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-quota-status", Name: "xinfang"}, q); err != nil {
		t.Fatal(err)
	}
	q.Status.Hard = q.Spec.Hard
	q.Status.Used = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}
	if err := k8s.Status().Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	reconcileOnce(t, r, c.Name)
	if again := counter.take(); len(again) != 0 {
		t.Fatalf("second reconcile applied %v, want nothing", again)
	}
	// A spec edit is still reverted.
	q = &corev1.ResourceQuota{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-quota-status", Name: "xinfang"}, q); err != nil {
		t.Fatal(err)
	}
	q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1000")
	if err := k8s.Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	reconcileOnce(t, r, c.Name)
	if again := counter.take(); again["ResourceQuota"] != 1 {
		t.Fatalf("after a spec edit the reconcile applied %v, want the quota", again)
	}
}

// Deployments that become available while the reconcile that created them
// is still applying the rest (here at once: a deployment controller faked
// into the client) are reported by that reconcile: the County goes to
// Ready in one status write instead of a Progressing one and a second.
func TestAvailableDuringTheReconcileIsReported(t *testing.T) {
	needEnv(t)
	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	fast := interceptor.NewClient(direct, interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if err := c.Apply(ctx, obj, opts...); err != nil {
				return err
			}
			u, ok := obj.(interface {
				GetKind() string
				GetNamespace() string
				GetName() string
			})
			if !ok || u.GetKind() != "Deployment" {
				return nil
			}
			d := &appsv1.Deployment{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: u.GetNamespace(), Name: u.GetName()}, d); err != nil {
				return err
			}
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: *d.Spec.Replicas,
				UpdatedReplicas: *d.Spec.Replicas, ReadyReplicas: *d.Spec.Replicas, AvailableReplicas: *d.Spec.Replicas}
			return c.Status().Update(ctx, d)
		},
	})
	c := manualCounty(t, "fast-deploy", nil)
	r := manualReconciler(testOpts)
	r.Client = fast
	reconcileOnce(t, r, c.Name)
	got := getCounty(t, c.Name)
	for _, typ := range []string{CondWorkloadsAvailable, CondReady} {
		cond := meta.FindStatusCondition(got.Status.Conditions, typ)
		if cond == nil || cond.Status != metav1.ConditionTrue {
			t.Fatalf("after one reconcile %s = %+v, want True", typ, cond)
		}
	}
}

// Moving a county from SQLite to PostgreSQL stops rendering its volume
// claims: under Retain they stay (the records are in them), under Delete
// they are pruned.
func TestVolumeClaimsArePrunedOnlyUnderDelete(t *testing.T) {
	needEnv(t)
	for _, policy := range []v1alpha1.DeletionPolicy{v1alpha1.DeletionPolicyRetain, v1alpha1.DeletionPolicyDelete} {
		name := "pvc-" + strings.ToLower(string(policy))
		c := manualCounty(t, name, func(c *v1alpha1.County) { c.Spec.DeletionPolicy = policy })
		r := manualReconciler(testOpts)
		reconcileOnce(t, r, c.Name)
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "xinfang-" + name, Name: "intake-data"}}
		if !exists(t, pvc) {
			t.Fatalf("%s: no volume claim", policy)
		}
		updateCounty(t, name, func(c *v1alpha1.County) { c.Spec.Database = v1alpha1.DatabaseSpec{Type: "postgres"} })
		reconcileOnce(t, r, c.Name)
		kept := exists(t, pvc)
		if policy == v1alpha1.DeletionPolicyRetain && !kept {
			t.Fatal("Retain: a volume claim was pruned")
		}
		if policy == v1alpha1.DeletionPolicyDelete && kept {
			t.Fatal("Delete: the unused volume claim was kept")
		}
	}
}

// The status patch carries the resourceVersion it was computed from; when
// the County changed meanwhile it conflicts, and the patch is redone on the
// latest County instead of failing or overwriting blindly.
func TestStatusPatchRetriesOnConflict(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := manualCounty(t, "conflict", nil)
	stale := getCounty(t, c.Name)
	poke(t, c.Name) // the County moves on: stale's resourceVersion is old
	r := manualReconciler(testOpts)
	r.init()
	cond := metav1.Condition{Type: CondReady, Status: metav1.ConditionUnknown, Reason: ReasonReconciling, Message: "test", ObservedGeneration: stale.Generation}
	calls := 0
	err := r.patchStatus(ctx, stale, func(st *v1alpha1.CountyStatus) {
		calls++
		meta.SetStatusCondition(&st.Conditions, cond)
	})
	if err != nil {
		t.Fatalf("patch status: %v", err)
	}
	if calls != 2 {
		t.Fatalf("status computed %d times, want 2 (a conflict, then the retry)", calls)
	}
	got := getCounty(t, c.Name)
	if meta.FindStatusCondition(got.Status.Conditions, CondReady) == nil || got.Annotations["test.xinfang.io/poke"] == "" {
		t.Fatalf("status %v annotations %v", got.Status.Conditions, got.Annotations)
	}
}

// A PodPerCounty county: the API server accepts the one pod template with
// four containers; the county has one Deployment, Service and
// ServiceAccount and none of the per-service ones; its endpoints name the
// one Service; it is available once that Deployment is.
func TestPodPerCountyProvisioned(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := manualCounty(t, "packed", func(c *v1alpha1.County) { c.Spec.Layout = v1alpha1.LayoutPodPerCounty })
	r := manualReconciler(testOpts)
	reconcileOnce(t, r, c.Name) // creates the objects; the status waits (firstStatusWaits)
	reconcileOnce(t, r, c.Name)
	ns := render.Namespace(c)
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.CountyWorkload}, d); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 4 {
		t.Fatalf("%d containers, want 4", n)
	}
	svc := &corev1.Service{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.CountyWorkload}, svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) != 4 || svc.Spec.ClusterIP == "" {
		t.Fatalf("service ports %v, cluster IP %q", svc.Spec.Ports, svc.Spec.ClusterIP)
	}
	if !exists(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.CountyWorkload}}) {
		t.Fatal("no county ServiceAccount")
	}
	for _, s := range render.Services {
		for _, o := range []client.Object{
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.Name}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.Name}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.Name}},
		} {
			if exists(t, o) {
				t.Errorf("%T %s exists in a PodPerCounty county", o, s.Name)
			}
		}
		if !exists(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.Name + "-data"}}) {
			t.Errorf("no volume claim for %s", s.Name)
		}
	}
	got := getCounty(t, c.Name)
	for _, s := range render.Services {
		if want := fmt.Sprintf("http://county.%s.svc:%d", ns, s.Port); got.Status.Endpoints[s.Name] != want {
			t.Errorf("endpoint of %s: %q, want %q", s.Name, got.Status.Endpoints[s.Name], want)
		}
	}
	if cond := meta.FindStatusCondition(got.Status.Conditions, CondWorkloadsAvailable); cond == nil || cond.Status != metav1.ConditionFalse {
		t.Fatalf("WorkloadsAvailable before the Deployment is: %+v", cond)
	}

	// The deployment controller's part, played by hand (envtest runs none).
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	if err := k8s.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	reconcileOnce(t, r, c.Name)
	got = getCounty(t, c.Name)
	cond := meta.FindStatusCondition(got.Status.Conditions, CondWorkloadsAvailable)
	if cond == nil || cond.Status != metav1.ConditionTrue || !strings.Contains(cond.Message, render.CountyWorkload) {
		t.Fatalf("WorkloadsAvailable once the county Deployment is: %+v", cond)
	}
}
