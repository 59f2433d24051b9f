package controller

import (
	"context"
	"fmt"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// Deletion policies, pausing, and what the status reports when a
// dependency is missing.

func pvcOwners(t *testing.T, ns string) []string {
	t.Helper()
	list := &corev1.PersistentVolumeClaimList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, fmt.Sprintf("%s:%d", p.Name, len(p.OwnerReferences)))
	}
	sort.Strings(out)
	return out
}

// Retain (default): no finalizer; deleting the County leaves the namespace,
// its volume claims (no owner reference for the garbage collector to
// follow), the intake keys and the topics.
func TestRetainKeepsNamespaceVolumesAndTopics(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "keep"))
	c = waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated)
	waitCondition(t, c.Name, CondDatabaseReady, metav1.ConditionTrue, ReasonVolumesPending)
	if len(c.Finalizers) != 0 {
		t.Fatalf("finalizers %v under Retain", c.Finalizers)
	}
	if err := k8s.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "County gone", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Name: c.Name}, &v1alpha1.County{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	ns := &corev1.Namespace{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "xinfang-keep"}, ns); err != nil || ns.DeletionTimestamp != nil || len(ns.OwnerReferences) != 0 {
		t.Fatalf("namespace not kept as it was: %v %v %v", err, ns.DeletionTimestamp, ns.OwnerReferences)
	}
	if got := pvcOwners(t, "xinfang-keep"); fmt.Sprint(got) != "[intake-data:0 routing-data:0 statistics-data:0 supervision-data:0]" {
		t.Fatalf("volume claims %v, want four without owners", got)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-keep", Name: render.IntakeKeysSecret}, &corev1.Secret{}); err != nil {
		t.Fatalf("intake keys: %v", err)
	}
	if got := brokerTopics(t, brokers, TopicNames("keep")); len(got) != 5 {
		t.Fatalf("topics after deleting a Retain county: %v", got)
	}
}

// Delete: the finalizer deletes the namespace and the topics before the
// County goes; volume claims are owned.
func TestDeletePolicyCleansUp(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	s := sample(t, "drop")
	s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	c := createCounty(t, s)
	c = waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionTrue, ReasonTopicsCreated)
	waitCondition(t, c.Name, CondDatabaseReady, metav1.ConditionTrue, ReasonVolumesPending)
	if fmt.Sprint(c.Finalizers) != "["+Finalizer+"]" {
		t.Fatalf("finalizers %v under Delete", c.Finalizers)
	}
	if got := pvcOwners(t, "xinfang-drop"); fmt.Sprint(got) != "[intake-data:1 routing-data:1 statistics-data:1 supervision-data:1]" {
		t.Fatalf("volume claims %v, want four owned", got)
	}
	if got := brokerTopics(t, brokers, TopicNames("drop")); len(got) != 5 {
		t.Fatalf("topics %v", got)
	}
	if err := k8s.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "County gone", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Name: c.Name}, &v1alpha1.County{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	// Without a namespace controller the namespace stays Terminating; what
	// matters is that the operator deleted it.
	ns := &corev1.Namespace{}
	err := k8s.Get(ctx, client.ObjectKey{Name: "xinfang-drop"}, ns)
	if err == nil && ns.DeletionTimestamp == nil {
		t.Fatal("namespace not deleted")
	}
	if got := brokerTopics(t, brokers, TopicNames("drop")); len(got) != 0 {
		t.Fatalf("topics left after a Delete county: %v", got)
	}
}

// Switching Delete → Retain drops the finalizer and the volume claims'
// owner references (server-side apply removes what the operator no longer
// sets).
func TestSwitchToRetainReleasesData(t *testing.T) {
	needEnv(t)
	s := sample(t, "switch")
	s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	c := createCounty(t, s)
	waitCondition(t, c.Name, CondDatabaseReady, metav1.ConditionTrue, ReasonVolumesPending)
	if got := pvcOwners(t, "xinfang-switch"); fmt.Sprint(got) != "[intake-data:1 routing-data:1 statistics-data:1 supervision-data:1]" {
		t.Fatalf("volume claims %v", got)
	}
	updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
	eventually(t, "finalizer and owner references gone", func() error {
		c := getCounty(t, "switch")
		if len(c.Finalizers) != 0 {
			return fmt.Errorf("finalizers %v", c.Finalizers)
		}
		if got := pvcOwners(t, "xinfang-switch"); fmt.Sprint(got) != "[intake-data:0 routing-data:0 statistics-data:0 supervision-data:0]" {
			return fmt.Errorf("volume claims %v", got)
		}
		return nil
	})
}

// Paused: neither a spec edit nor drift is acted on; resuming applies both.
func TestPausedTouchesNothing(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "paused"))
	c = waitCondition(t, c.Name, CondConfigReady, metav1.ConditionTrue, ReasonApplied)
	oldVersion := c.Status.RulesVersion
	ns := "xinfang-paused"

	c = updateCounty(t, c.Name, func(c *v1alpha1.County) {
		c.Spec.Reconciliation = v1alpha1.ReconciliationPaused
		c.Spec.Departments[0].Name = "安吉县人民来访接待中心"
	})
	waitCondition(t, c.Name, CondReady, metav1.ConditionUnknown, ReasonPaused)

	npKey := client.ObjectKey{Namespace: ns, Name: render.IsolationPolicy}
	np := &networkingv1.NetworkPolicy{}
	if err := k8s.Get(ctx, npKey, np); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, np); err != nil {
		t.Fatal(err)
	}
	// The deletion is seen (reconciles run) and nothing is done about it.
	settle(t, c.Name)
	if err := k8s.Get(ctx, npKey, &networkingv1.NetworkPolicy{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a paused county's policy was recreated: %v", err)
	}
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Annotations[render.AnnotationRulesVersion] != oldVersion {
		t.Fatal("a paused county's rules were applied")
	}
	if cur := getCounty(t, c.Name); cur.Status.ObservedGeneration == cur.Generation {
		t.Fatal("observedGeneration claims the paused edit was reconciled")
	}

	c = updateCounty(t, c.Name, func(c *v1alpha1.County) { c.Spec.Reconciliation = v1alpha1.ReconciliationActive })
	newVersion, _ := c.Spec.Spec.Version()
	eventually(t, "resumed: policy back, rules applied", func() error {
		if err := k8s.Get(ctx, npKey, &networkingv1.NetworkPolicy{}); err != nil {
			return err
		}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.ConfigMapName}, cm); err != nil {
			return err
		}
		if cm.Annotations[render.AnnotationRulesVersion] != newVersion {
			return fmt.Errorf("rules version %s", cm.Annotations[render.AnnotationRulesVersion])
		}
		return nil
	})
}

// PostgreSQL: no volume claims; DatabaseReady waits for the bureau's Secret.
func TestPostgresWaitsForItsSecret(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	s := sample(t, "pg")
	s.Spec.Database = v1alpha1.DatabaseSpec{Type: "postgres", SecretRef: &corev1.LocalObjectReference{Name: "pg-url"}}
	c := createCounty(t, s)
	waitCondition(t, c.Name, CondDatabaseReady, metav1.ConditionFalse, ReasonSecretMissing)
	waitCondition(t, c.Name, CondReady, metav1.ConditionFalse, ReasonSecretMissing)
	if got := pvcOwners(t, "xinfang-pg"); len(got) != 0 {
		t.Fatalf("volume claims for a PostgreSQL county: %v", got)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pg-url", Namespace: "xinfang-pg"}, StringData: map[string]string{"url": "postgres://xinfang@pg/anji"}}
	if err := k8s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	poke(t, c.Name) // the operator polls for it every 30 s; do not wait that long
	waitCondition(t, c.Name, CondDatabaseReady, metav1.ConditionTrue, ReasonSecretFound)
}

// A spec the services' loader would refuse (here a supervision cycle, which
// CEL cannot see) is not written into the county file.
func TestInvalidRulesKeepTheLastValidFile(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "cycle"))
	c = waitCondition(t, c.Name, CondConfigReady, metav1.ConditionTrue, ReasonApplied)
	good := c.Status.RulesVersion
	c = updateCounty(t, c.Name, func(c *v1alpha1.County) {
		for i := range c.Spec.Departments {
			if c.Spec.Departments[i].ID == "sjwjw" {
				c.Spec.Departments[i].SupervisingBody = "jwjw" // jwjw → sjwjw → jwjw
			}
		}
	})
	c = waitCondition(t, c.Name, CondConfigReady, metav1.ConditionFalse, ReasonInvalidRules)
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "xinfang-cycle", Name: render.ConfigMapName}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Annotations[render.AnnotationRulesVersion] != good || c.Status.RulesVersion != good {
		t.Fatalf("rules version %s / status %s, want the last valid %s", cm.Annotations[render.AnnotationRulesVersion], c.Status.RulesVersion, good)
	}
}

// A Kafka that cannot be reached does not stop the rest of the county; the
// status says what is wrong.
func TestUnreachableKafkaIsReported(t *testing.T) {
	needEnv(t)
	s := sample(t, "nokafka")
	s.Spec.Kafka.BootstrapServers = []string{"127.0.0.1:1"}
	c := createCounty(t, s)
	c = waitCondition(t, c.Name, CondTopicsReady, metav1.ConditionFalse, ReasonKafkaUnreachable)
	for _, typ := range []string{CondNamespaceReady, CondConfigReady, CondIsolationReady} {
		if cond, err := condition(c, typ); err != nil || cond.Status != metav1.ConditionTrue {
			t.Errorf("%s with Kafka down: %v %v", typ, cond, err)
		}
	}
	if ready, err := condition(c, CondReady); err != nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonKafkaUnreachable {
		t.Errorf("Ready with Kafka down: %v %v", ready, err)
	}
}

// A namespace deleted under a live County: nothing can be created in it
// until it is gone (then it is recreated); the status says so. Without a
// namespace controller here it stays Terminating.
func TestDeletedNamespaceIsReported(t *testing.T) {
	needEnv(t)
	ctx := context.Background()
	c := createCounty(t, sample(t, "nsgone"))
	waitCondition(t, c.Name, CondNamespaceReady, metav1.ConditionTrue, ReasonApplied)
	if err := k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "xinfang-nsgone"}}); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, c.Name, CondNamespaceReady, metav1.ConditionFalse, ReasonTerminating)
	waitCondition(t, c.Name, CondReady, metav1.ConditionFalse, ReasonTerminating)
}
