package e2e

// What one county may not see of another, and what a deleted Retain county
// keeps: the cluster test's isolation checks.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// checkShareNothing asserts that nothing in a's namespace belongs to,
// points at or admits b.
func checkShareNothing(t *testing.T, c *kubeCluster, a, b *testCounty, flags map[string]string) {
	t.Helper()
	ctx := t.Context()
	cfg := rest.CopyConfig(c.config)
	cfg.WarningHandler = rest.NoWarnings{} // v1 Endpoints is deprecated, and listed here all the same
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := c.kube.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	seen := map[string]int{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			if !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") || r.Name == "events" {
				continue
			}
			objs, err := md.Resource(gv.WithResource(r.Name)).Namespace(a.ns()).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Errorf("list %s in %s: %v", r.Name, a.ns(), err)
				continue
			}
			for _, o := range objs.Items {
				seen[r.Kind]++
				what := fmt.Sprintf("%s %s/%s", r.Kind, a.ns(), o.Name)
				if v, ok := o.Labels[countyKey]; ok && v != a.name {
					t.Errorf("%s is labelled for county %s", what, v)
				}
				for _, ref := range o.OwnerReferences {
					if ref.UID == b.uid || (ref.Kind == "County" && ref.UID != a.uid) {
						t.Errorf("%s is owned by %s %s (%s)", what, ref.Kind, ref.Name, ref.UID)
					}
				}
				if strings.Contains(o.Name, b.name) {
					t.Errorf("%s is named after county %s", what, b.name)
				}
			}
		}
	}
	total := 0
	for _, n := range seen {
		total += n
	}
	// Every kind a county consists of was looked at (a discovery or listing
	// gap would make the check pass on nothing).
	for _, kind := range []string{"ConfigMap", "Deployment", "EndpointSlice", "NetworkPolicy", "PersistentVolumeClaim", "Pod", "ReplicaSet", "Secret", "Service", "ServiceAccount"} {
		if seen[kind] == 0 {
			t.Errorf("no %s found in %s: the check saw too little", kind, a.ns())
		}
	}
	t.Logf("%s: %d objects (%v), none of county %s", a.ns(), total, seen, b.name)

	// Every NetworkPolicy peer is a namespace chosen by the label the API
	// server sets (kubernetes.io/metadata.name), never b's.
	nps, err := c.kube.NetworkingV1().NetworkPolicies(a.ns()).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The county's own namespace and the operator's --ingress-namespace and
	// --monitoring-namespace (the chart's counties.* values).
	allowed := []string{a.ns()}
	for _, f := range []string{"--ingress-namespace", "--monitoring-namespace"} {
		if flags[f] != "" {
			allowed = append(allowed, flags[f])
		}
	}
	for _, np := range nps.Items {
		if len(np.Spec.Egress) > 0 {
			t.Errorf("NetworkPolicy %s/%s has egress rules", a.ns(), np.Name)
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s/%s admits every source", a.ns(), np.Name)
			}
			for _, peer := range rule.From {
				sel := peer.NamespaceSelector
				if peer.IPBlock != nil || peer.PodSelector != nil || sel == nil || len(sel.MatchExpressions) > 0 || len(sel.MatchLabels) != 1 {
					t.Errorf("NetworkPolicy %s/%s: peer %+v is not one namespace by name", a.ns(), np.Name, peer)
					continue
				}
				name, ok := sel.MatchLabels["kubernetes.io/metadata.name"]
				if !ok || !slices.Contains(allowed, name) || name == b.ns() {
					t.Errorf("NetworkPolicy %s/%s admits namespace selector %v (allowed: %v)", a.ns(), np.Name, sel.MatchLabels, allowed)
				}
			}
		}
	}

	// Distinct topics.
	at, bt := countyTopics(a.name), countyTopics(b.name)
	for _, x := range at {
		if slices.Contains(bt, x) {
			t.Errorf("topic %s belongs to both %s and %s", x, a.name, b.name)
		}
	}
}

func pvcUIDs(t *testing.T, c *kubeCluster, county *testCounty) map[string]types.UID {
	t.Helper()
	pvcs, err := c.kube.CoreV1().PersistentVolumeClaims(county.ns()).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, p := range pvcs.Items {
		out[p.Name] = p.UID
	}
	return out
}

// checkRetained asserts that a deleted Retain county's records remain: the
// namespace, the same bound volume claims (when pvcs is given, by UID), the
// intake keys and the topics.
func checkRetained(t *testing.T, c *kubeCluster, county *testCounty, pvcs map[string]types.UID, broker string, partitions int) {
	t.Helper()
	ctx := t.Context()
	ns, err := c.kube.CoreV1().Namespaces().Get(ctx, county.ns(), metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp != nil || ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("namespace %s of the deleted Retain County: %v (phase %v)", county.ns(), err, ns.Status.Phase)
	}
	got := pvcUIDs(t, c, county)
	if len(got) != len(serviceNames) {
		t.Errorf("PersistentVolumeClaims left in %s: %v, want one per service", county.ns(), got)
	}
	for name, uid := range pvcs {
		if got[name] != uid {
			t.Errorf("PersistentVolumeClaim %s/%s: uid %q, was %q", county.ns(), name, got[name], uid)
		}
	}
	list, err := c.kube.CoreV1().PersistentVolumeClaims(county.ns()).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.ClaimBound {
				t.Errorf("PersistentVolumeClaim %s/%s: phase %s, deleting %v", county.ns(), p.Name, p.Status.Phase, p.DeletionTimestamp)
			}
		}
	}
	if _, err := c.kube.CoreV1().Secrets(county.ns()).Get(ctx, "intake-keys", metav1.GetOptions{}); err != nil {
		t.Errorf("intake key Secret of the deleted Retain County: %v", err)
	}
	topics := brokerTopics(t, broker)
	for _, name := range countyTopics(county.name) {
		if n, ok := topics[name]; !ok || n != partitions {
			t.Errorf("topic %s of the deleted Retain County: present %v, %d partitions", name, ok, n)
		}
	}
}
