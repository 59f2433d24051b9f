package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/county"
	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// subset reports the first place where want (a rendered object) is not
// contained in got (the object as the API server stores it, with defaults
// and server-set fields added).
func subset(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %#v", path, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := subset(path+"."+k, w[k], g[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: want %d items, got %#v", path, len(w), got)
		}
		for i := range w {
			if err := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: want %#v, got %#v", path, want, got)
		}
		return nil
	}
}

func live(t *testing.T, o client.Object) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(o.GetObjectKind().GroupVersionKind())
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(o), u); err != nil {
		t.Fatalf("%s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	return u
}

func renderCounty(t *testing.T, c *v1alpha1.County) []client.Object {
	t.Helper()
	objs, err := render.Objects(c, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func ownerRefs(u metav1.Object) string { return fmt.Sprint(u.GetOwnerReferences()) }

// A County becomes its instance: every rendered object with the rendered
// content, owner references as specified, the intake keys, the topics, and
// a status that describes the current generation.
func TestCountyProvisioned(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "anji"))

	// Until a kube-controller-manager runs the Deployments, they cannot be
	// available: the status says so rather than Ready.
	c = waitCondition(t, c.Name, CondWorkloadsAvailable, metav1.ConditionFalse, ReasonProgressing)
	for typ, reason := range map[string]string{
		CondNamespaceReady: ReasonApplied, CondConfigReady: ReasonApplied, CondTopicsReady: ReasonTopicsCreated,
		CondDatabaseReady: ReasonVolumesPending, CondIsolationReady: ReasonPoliciesApplied,
	} {
		cond, err := condition(c, typ)
		if err != nil {
			t.Fatal(err)
		}
		if cond.Status != metav1.ConditionTrue || cond.Reason != reason {
			t.Errorf("%s = %s/%s (%s), want True/%s", typ, cond.Status, cond.Reason, cond.Message, reason)
		}
	}
	ready, err := condition(c, CondReady)
	if err != nil {
		t.Fatal(err)
	}
	if ready.Status != metav1.ConditionFalse || ready.Reason != ReasonProgressing {
		t.Errorf("Ready = %s/%s (%s), want False/Progressing", ready.Status, ready.Reason, ready.Message)
	}
	if c.Status.ObservedGeneration != c.Generation {
		t.Errorf("observedGeneration %d, generation %d", c.Status.ObservedGeneration, c.Generation)
	}
	version, _ := c.Spec.Spec.Version()
	if c.Status.RulesVersion != version {
		t.Errorf("rulesVersion %q, want %q", c.Status.RulesVersion, version)
	}
	for _, s := range render.Services {
		if c.Status.Endpoints[s.Name] != render.Endpoint(c, s) {
			t.Errorf("endpoint of %s: %q", s.Name, c.Status.Endpoints[s.Name])
		}
	}
	if len(c.Finalizers) != 0 {
		t.Errorf("a Retain county has finalizers %v", c.Finalizers)
	}

	// Every rendered object, with its content and owner references.
	objs := renderCounty(t, c)
	kinds := map[string]int{}
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		kinds[kind]++
		want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		delete(want, "status")
		unstructured.RemoveNestedField(want, "metadata", "creationTimestamp")
		got := live(t, o)
		if err := subset(kind+"/"+o.GetName(), want, got.Object); err != nil {
			t.Errorf("live object differs from render: %v", err)
		}
		switch kind {
		case "Namespace", "PersistentVolumeClaim":
			if len(got.GetOwnerReferences()) != 0 {
				t.Errorf("%s %s must have no owner reference under Retain: %s", kind, got.GetName(), ownerRefs(got))
			}
		default:
			refs := got.GetOwnerReferences()
			if len(refs) != 1 || refs[0].UID != c.UID || refs[0].Kind != "County" || refs[0].Controller == nil || !*refs[0].Controller ||
				refs[0].BlockOwnerDeletion == nil || !*refs[0].BlockOwnerDeletion {
				t.Errorf("%s %s: owner references %s, want the County as controller", kind, got.GetName(), ownerRefs(got))
			}
		}
		if mf := got.GetManagedFields(); len(mf) == 0 || mf[0].Manager != FieldOwner || mf[0].Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("%s %s is not server-side applied by %s: %v", kind, got.GetName(), FieldOwner, mf)
		}
	}
	wantKinds := map[string]int{"Namespace": 1, "ConfigMap": 1, "ResourceQuota": 1, "LimitRange": 1, "NetworkPolicy": 2,
		"ServiceAccount": 4, "PersistentVolumeClaim": 4, "Deployment": 4, "Service": 4} // SQLite: one replica, no disruption budget
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("rendered kinds %v, want %v", kinds, wantKinds)
	}

	// The ConfigMap is a county file the services load.
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-anji", Name: render.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	loaded, err := county.Parse([]byte(cm.Data[render.CountyFileKey]))
	if err != nil || loaded.ID != "anji" || loaded.Version != version {
		t.Fatalf("county file: %v (id %v)", err, loaded)
	}

	// The intake key file, in the vault's format, with no owner.
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-anji", Name: render.IntakeKeysSecret}, sec); err != nil {
		t.Fatal(err)
	}
	checkKeyFile(t, sec.Data[render.IntakeKeysFile])
	if len(sec.OwnerReferences) != 0 {
		t.Errorf("intake key secret has owner references %v", sec.OwnerReferences)
	}

	// The topics, with the operator's partition count.
	got := brokerTopics(t, brokers, TopicNames("anji"))
	for _, tp := range TopicNames("anji") {
		if got[tp] != 6 {
			t.Errorf("topic %s: %d partitions, want 6 (all: %v)", tp, got[tp], got)
		}
	}
}

func checkKeyFile(t *testing.T, data []byte) {
	t.Helper()
	var f intakeKeyFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("intake key file: %v", err)
	}
	k1, err1 := base64.StdEncoding.DecodeString(f.Keys[f.Current])
	mac, err2 := base64.StdEncoding.DecodeString(f.HMACKey)
	if f.Current != "k1" || err1 != nil || err2 != nil || len(k1) != 32 || len(mac) != 32 {
		t.Fatalf("intake key file %s is not {current k1, 32-byte k1, 32-byte hmacKey}", data)
	}
}

func TestIntakeKeysAreNeverRewritten(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "keys"))
	key := client.ObjectKey{Namespace: "xinfang-keys", Name: render.IntakeKeysSecret}
	sec := &corev1.Secret{}
	eventually(t, "intake key secret", func() error { return k8s.Get(ctx, key, sec) })
	original := string(sec.Data[render.IntakeKeysFile])

	// A human rotates the keys (k2 current); the operator must leave it.
	rotated := `{"current":"k2","keys":{"k1":"x","k2":"y"},"hmacKey":"z"}`
	sec.Data[render.IntakeKeysFile] = []byte(rotated)
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	settle(t, c.Name)
	if err := k8s.Get(ctx, key, sec); err != nil {
		t.Fatal(err)
	}
	if string(sec.Data[render.IntakeKeysFile]) != rotated || rotated == original {
		t.Fatalf("the operator rewrote the intake keys: %s", sec.Data[render.IntakeKeysFile])
	}
}

func TestNewIntakeKeysAreRandom(t *testing.T) {
	a, err := NewIntakeKeys()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewIntakeKeys()
	checkKeyFile(t, a)
	if string(a) == string(b) {
		t.Fatal("two key files are equal")
	}
}

type deploymentSnapshot struct {
	resourceVersion string
	generation      int64
	template        corev1.PodTemplateSpec
}

func snapshotDeployments(t *testing.T, ns string) map[string]deploymentSnapshot {
	t.Helper()
	list := &appsv1.DeploymentList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]deploymentSnapshot{}
	for _, d := range list.Items {
		out[d.Name] = deploymentSnapshot{d.ResourceVersion, d.Generation, d.Spec.Template}
	}
	return out
}

// A rules edit changes the county file only: the services hot-reload it, so
// the Deployments — their pod templates, their very resourceVersion — stay
// as they are and no pod restarts.
func TestRulesEditUpdatesOnlyTheConfigMap(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "rules"))
	c = waitCondition(t, c.Name, CondConfigReady, metav1.ConditionTrue, ReasonApplied)
	waitCondition(t, c.Name, CondWorkloadsAvailable, metav1.ConditionFalse, ReasonProgressing)
	oldVersion := c.Status.RulesVersion
	before := snapshotDeployments(t, "xinfang-rules")
	if len(before) != 4 {
		t.Fatalf("%d deployments", len(before))
	}

	c = updateCounty(t, c.Name, func(c *v1alpha1.County) {
		c.Spec.RoutingRules[len(c.Spec.RoutingRules)-1].Match.Keywords.Any = append(c.Spec.RoutingRules[len(c.Spec.RoutingRules)-1].Match.Keywords.Any, "课后服务")
	})
	newVersion, _ := c.Spec.Spec.Version()
	if newVersion == oldVersion {
		t.Fatal("the edit did not change the rules version")
	}
	var cur *v1alpha1.County
	eventually(t, "new rules version in status", func() error {
		cur = getCounty(t, c.Name)
		if cur.Status.ObservedGeneration != cur.Generation || cur.Status.RulesVersion != newVersion {
			return fmt.Errorf("observed %d of %d, rules %s", cur.Status.ObservedGeneration, cur.Generation, cur.Status.RulesVersion)
		}
		return nil
	})
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-rules", Name: render.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Annotations[render.AnnotationRulesVersion] != newVersion {
		t.Fatalf("ConfigMap rules version %s, want %s", cm.Annotations[render.AnnotationRulesVersion], newVersion)
	}
	loaded, err := county.Parse([]byte(cm.Data[render.CountyFileKey]))
	if err != nil || loaded.Version != newVersion {
		t.Fatalf("county file after the edit: %v", err)
	}
	after := snapshotDeployments(t, "xinfang-rules")
	for name, b := range before {
		a := after[name]
		if a.resourceVersion != b.resourceVersion || a.generation != b.generation || !reflect.DeepEqual(a.template, b.template) {
			t.Errorf("deployment %s changed on a rules edit: resourceVersion %s→%s generation %d→%d", name, b.resourceVersion, a.resourceVersion, b.generation, a.generation)
		}
	}
}

// Drift: an owned object deleted or edited by hand is put back; an owned
// object render no longer produces is pruned, anything else is left alone.
func TestDriftIsRevertedAndLeftoversPruned(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "drift"))
	c = waitCondition(t, c.Name, CondIsolationReady, metav1.ConditionTrue, ReasonPoliciesApplied)
	ns := "xinfang-drift"

	// Deleted NetworkPolicy → recreated.
	np := &networkingv1.NetworkPolicy{}
	key := client.ObjectKey{Namespace: ns, Name: render.IsolationPolicy}
	if err := k8s.Get(ctx, key, np); err != nil {
		t.Fatal(err)
	}
	oldUID := np.UID
	if err := k8s.Delete(ctx, np); err != nil {
		t.Fatal(err)
	}
	eventually(t, "isolation policy recreated", func() error {
		np = &networkingv1.NetworkPolicy{}
		if err := k8s.Get(ctx, key, np); err != nil {
			return err
		}
		if np.UID == oldUID {
			return fmt.Errorf("still the old object")
		}
		return nil
	})
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress || len(np.Spec.PodSelector.MatchLabels) != 0 {
		t.Fatalf("recreated isolation policy does not isolate every pod: %+v", np.Spec)
	}

	// Edited policy (someone opens the county to every namespace) → reverted.
	allow := &networkingv1.NetworkPolicy{}
	if err := k8s.Get(ctx, key, allow); err != nil {
		t.Fatal(err)
	}
	allow.Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{}
	if err := k8s.Update(ctx, allow); err != nil {
		t.Fatal(err)
	}
	eventually(t, "isolation policy reverted", func() error {
		if err := k8s.Get(ctx, key, allow); err != nil {
			return err
		}
		if got := allow.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; got != ns {
			return fmt.Errorf("selector %v", allow.Spec.Ingress[0].From[0].NamespaceSelector)
		}
		return nil
	})

	// Edited Deployment (replicas, image) → reverted.
	d := &appsv1.Deployment{}
	dkey := client.ObjectKey{Namespace: ns, Name: "routing"}
	if err := k8s.Get(ctx, dkey, d); err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	d.Spec.Replicas = &three
	d.Spec.Template.Spec.Containers[0].Image = "evil.example.com/routing:latest"
	if err := k8s.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, "routing deployment reverted", func() error {
		if err := k8s.Get(ctx, dkey, d); err != nil {
			return err
		}
		if *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].Image != "registry.example.cn/xinfang/routing:v0.1.0" {
			return fmt.Errorf("replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
		}
		return nil
	})

	// An owned object render no longer produces (as after an option or
	// spec change) is pruned; an object someone else made is not.
	labels := render.Labels(c, "")
	ctrlTrue := true
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stale", Namespace: ns, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "County", Name: c.Name, UID: c.UID, Controller: &ctrlTrue}}}}
	bystander := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bystander", Namespace: ns, Labels: labels}}
	if err := k8s.Create(ctx, bystander); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, stale); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stale ConfigMap pruned", func() error {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(stale), &corev1.ConfigMap{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(bystander), &corev1.ConfigMap{}); err != nil {
		t.Fatalf("an unowned ConfigMap was pruned: %v", err)
	}
}
