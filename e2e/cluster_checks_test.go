package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// buildOperator compiles operator/cmd/manager.
func buildOperator(out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/manager")
	cmd.Dir = filepath.Join(repoRoot, "operator")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/manager: %v\n%s", err, b)
	}
	return nil
}

// operatorArgs are the chart's arguments with what a process on this
// machine needs instead: probe and metrics ports of its own, and no leader
// election (one operator).
func operatorArgs(chart []string, metrics, probes int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, a := range chart {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--leader-elect":
			a = "--leader-elect=false"
		case "--metrics-bind-address":
			a = fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics)
		case "--health-probe-bind-address":
			a = fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probes)
		}
		seen[name] = true
		out = append(out, a)
	}
	for _, f := range []string{"--leader-elect", "--metrics-bind-address", "--health-probe-bind-address", "--image-repository", "--topic-partitions"} {
		if !seen[f] {
			return nil, fmt.Errorf("the chart's operator Deployment passes no %s (args %v)", f, chart)
		}
	}
	return out, nil
}

func crdEstablished(ctx context.Context, c *kubeCluster) error {
	crd, err := c.dyn.Resource(crdGVR).Get(ctx, "counties.xinfang.io", metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cond := range conditionsOf(crd) {
		if cond.Type == "Established" && cond.Status == metav1.ConditionTrue {
			return nil
		}
	}
	return errors.New("not Established")
}

// createVolumes pre-binds one PersistentVolume per SQLite claim of the
// county: the cluster has no storage provisioner, and the scheduler holds a
// pod until its claim is bound.
func createVolumes(t *testing.T, c *kubeCluster, county *testCounty) {
	t.Helper()
	for _, s := range serviceNames {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + county.name + "-" + s},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: county.ns(), Name: s + "-data"},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: "/var/lib/xinfang-e2e/" + county.name + "/" + s}},
			},
		}
		if _, err := c.kube.CoreV1().PersistentVolumes().Create(t.Context(), pv, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create PersistentVolume %s: %v", pv.Name, err)
		}
	}
}

// sampleCounty is operator/config/samples/county_anji.yaml with the given
// identity and the dev broker as its Kafka.
func sampleCounty(t *testing.T, c *testCounty, broker string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "operator/config/samples/county_anji.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		t.Fatalf("sample County: %v", err)
	}
	u.SetName(c.name)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(unstructured.SetNestedField(u.Object, c.display, "spec", "displayName"))
	must(unstructured.SetNestedField(u.Object, c.code, "spec", "divisionCode"))
	must(unstructured.SetNestedStringSlice(u.Object, []string{broker}, "spec", "kafka", "bootstrapServers"))
	if c.layout != "" {
		must(unstructured.SetNestedField(u.Object, c.layout, "spec", "layout"))
	}
	return u
}

func conditionsOf(u *unstructured.Unstructured) []metav1.Condition {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	b, _ := json.Marshal(raw)
	var out []metav1.Condition
	_ = json.Unmarshal(b, &out)
	return out
}

// waitCountyReady waits until the County's status describes its current
// generation (at least minGen) and every condition is True for it.
func waitCountyReady(t *testing.T, c *kubeCluster, name string, minGen int64, within time.Duration) *unstructured.Unstructured {
	t.Helper()
	var got *unstructured.Unstructured
	eventually(t, within, "County "+name+" Ready", func(ctx context.Context) error {
		u, err := c.dyn.Resource(countyGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		gen := u.GetGeneration()
		if gen < minGen {
			return fmt.Errorf("generation %d, want at least %d", gen, minGen)
		}
		if og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); og != gen {
			return fmt.Errorf("status.observedGeneration %d, generation %d", og, gen)
		}
		conds := map[string]metav1.Condition{}
		for _, cond := range conditionsOf(u) {
			conds[cond.Type] = cond
		}
		for _, typ := range []string{"Ready", "WorkloadsAvailable", "NamespaceReady", "ConfigReady", "TopicsReady", "DatabaseReady", "IsolationReady"} {
			cond, ok := conds[typ]
			if !ok || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != gen {
				return fmt.Errorf("condition %s is %s (%s: %s) for generation %d; generation is %d", typ, cond.Status, cond.Reason, cond.Message, cond.ObservedGeneration, gen)
			}
		}
		got = u
		return nil
	})
	return got
}

// checkCounty asserts the county's instance: namespace, Deployments with
// Running pods on the kwok node, NetworkPolicies, the county file, volumes,
// the intake keys and the topics.
func checkCounty(t *testing.T, c *kubeCluster, county *testCounty, broker string) {
	t.Helper()
	ctx := t.Context()
	kube := c.kube
	ns := county.ns()
	u, err := c.dyn.Resource(countyGVR).Get(ctx, county.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	nsObj, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace %s: %v", ns, err)
	}
	if l := nsObj.Labels; l[countyKey] != county.name || l["pod-security.kubernetes.io/enforce"] != "restricted" || nsObj.Status.Phase != corev1.NamespaceActive {
		t.Errorf("namespace %s: labels %v, phase %s", ns, l, nsObj.Status.Phase)
	}

	// Deployments, available; their pods Running on the kwok node.
	deps, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range deps.Items {
		names = append(names, d.Name)
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if want < 1 || d.Status.AvailableReplicas != want || d.Status.ObservedGeneration != d.Generation {
			t.Errorf("Deployment %s/%s: %d of %d replicas available (observed generation %d of %d)", ns, d.Name, d.Status.AvailableReplicas, want, d.Status.ObservedGeneration, d.Generation)
		}
		if ref := metav1.GetControllerOf(&d); ref == nil || ref.UID != county.uid {
			t.Errorf("Deployment %s/%s is not controlled by County %s: %v", ns, d.Name, county.name, ref)
		}
		for _, ctr := range d.Spec.Template.Spec.Containers {
			env := map[string]string{}
			for _, e := range ctr.Env {
				env[e.Name] = e.Value
			}
			if env["XINFANG_COUNTY"] != county.name || env["XINFANG_KAFKA_BROKERS"] != broker {
				t.Errorf("Deployment %s/%s, container %s: XINFANG_COUNTY=%q XINFANG_KAFKA_BROKERS=%q", ns, d.Name, ctr.Name, env["XINFANG_COUNTY"], env["XINFANG_KAFKA_BROKERS"])
			}
		}
	}
	sort.Strings(names)
	if want := county.workloads(); !slices.Equal(names, want) {
		t.Errorf("Deployments in %s: %v, want %v", ns, names, want)
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	running := map[string]int{}
	for _, p := range pods.Items {
		ready := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if p.Status.Phase != corev1.PodRunning || !ready || p.Spec.NodeName != fakeNode {
			t.Errorf("pod %s/%s: phase %s, ready %v, node %q", ns, p.Name, p.Status.Phase, ready, p.Spec.NodeName)
			continue
		}
		running[p.Labels["app.kubernetes.io/component"]]++
		var containers []string
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Ready {
				containers = append(containers, cs.Name)
			}
		}
		sort.Strings(containers)
		if county.layout == "PodPerCounty" && !slices.Equal(containers, sorted(serviceNames)) {
			t.Errorf("pod %s/%s: ready containers %v, want %v", ns, p.Name, containers, sorted(serviceNames))
		}
	}
	for _, w := range county.workloads() {
		if running[w] != 1 {
			t.Errorf("%s: %d Running pods of %s, want 1 (SQLite: one replica)", ns, running[w], w)
		}
	}

	// Each service reachable through its Service: the endpoint slices list
	// the ready pod on the service's port, and the County's status names it.
	endpoints, _, _ := unstructured.NestedStringMap(u.Object, "status", "endpoints")
	for _, s := range serviceNames {
		svc := s
		if county.layout == "PodPerCounty" {
			svc = "county"
		}
		port := servicePort(t, kube, ns, svc, s)
		if want := fmt.Sprintf("http://%s.%s.svc:%d", svc, ns, port); endpoints[s] != want {
			t.Errorf("status.endpoints[%s] = %q, want %q", s, endpoints[s], want)
		}
		eventually(t, 30*time.Second, "endpoint slice of "+ns+"/"+svc+" serving "+s, func(ctx context.Context) error {
			return sliceServes(ctx, kube, ns, svc, port)
		})
	}

	// NetworkPolicies: one isolating every pod, and every peer a namespace
	// selected by the label the API server sets itself.
	nps, err := kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var npNames []string
	for _, np := range nps.Items {
		npNames = append(npNames, np.Name)
		if np.Name == "isolate-county" && (len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) > 0 ||
			!slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress})) {
			t.Errorf("NetworkPolicy %s/isolate-county does not isolate every pod: %+v", ns, np.Spec)
		}
	}
	sort.Strings(npNames)
	if want := []string{"allow-ingress-intake", "isolate-county"}; !slices.Equal(npNames, want) {
		t.Errorf("NetworkPolicies in %s: %v, want %v", ns, npNames, want)
	}

	// The county file the services read.
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "county", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ConfigMap %s/county: %v", ns, err)
	}
	var file map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["county.yaml"]), &file); err != nil {
		t.Fatalf("ConfigMap %s/county county.yaml: %v", ns, err)
	}
	if file["id"] != county.name || file["divisionCode"] != county.code || file["displayName"] != county.display {
		t.Errorf("county file in %s: id %v, divisionCode %v, displayName %v", ns, file["id"], file["divisionCode"], file["displayName"])
	}
	for _, k := range []string{"kafka", "database", "deletionPolicy", "reconciliation"} {
		if _, ok := file[k]; ok {
			t.Errorf("county file in %s carries the operator-only key %s", ns, k)
		}
	}
	if deps, _ := file["departments"].([]any); len(deps) == 0 {
		t.Errorf("county file in %s has no departments", ns)
	}
	rv, _, _ := unstructured.NestedString(u.Object, "status", "rulesVersion")
	if rv == "" || cm.Annotations["xinfang.io/rules-version"] != rv {
		t.Errorf("county file in %s: rules version %q, County status says %q", ns, cm.Annotations["xinfang.io/rules-version"], rv)
	}

	// SQLite volumes bound, outliving the County (no owner under Retain).
	pvcs, err := kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pvcs.Items) != len(serviceNames) {
		t.Errorf("%d PersistentVolumeClaims in %s, want %d", len(pvcs.Items), ns, len(serviceNames))
	}
	for _, p := range pvcs.Items {
		if p.Status.Phase != corev1.ClaimBound || len(p.OwnerReferences) > 0 {
			t.Errorf("PersistentVolumeClaim %s/%s: phase %s, owners %v", ns, p.Name, p.Status.Phase, p.OwnerReferences)
		}
	}
	if _, err := kube.CoreV1().Secrets(ns).Get(ctx, "intake-keys", metav1.GetOptions{}); err != nil {
		t.Errorf("intake key Secret in %s: %v", ns, err)
	}

	topics := brokerTopics(t, broker)
	for _, name := range countyTopics(county.name) {
		if _, ok := topics[name]; !ok {
			t.Errorf("topic %s missing on the broker", name)
		}
	}
}

// upgradedChart copies the chart to dir with the County CRD changed: a new
// optional field in the spec, as a chart release with a new API field would.
func upgradedChart(t *testing.T, dir string) string {
	t.Helper()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot, chartDir))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "files", "crds", "xinfang.io_counties.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
	if len(versions) == 0 {
		t.Fatal("the chart's CRD has no versions")
	}
	for i, v := range versions {
		vm := v.(map[string]any)
		field := map[string]any{"type": "string", "description": "Added by the e2e suite's helm upgrade."}
		if err := unstructured.SetNestedField(vm, field, "schema", "openAPIV3Schema", "properties", "spec", "properties", newCRDField); err != nil {
			t.Fatal(err)
		}
		versions[i] = vm
	}
	if err := unstructured.SetNestedSlice(crd, versions, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func crdHasField(crd *unstructured.Unstructured) bool {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		if _, ok, _ := unstructured.NestedMap(vm, "schema", "openAPIV3Schema", "properties", "spec", "properties", newCRDField); !ok {
			return false
		}
	}
	return len(versions) > 0
}

func countyTopics(county string) []string {
	out := make([]string, len(streams))
	for i, s := range streams {
		out[i] = "xinfang." + county + "." + s
	}
	return out
}

// brokerTopics lists the broker's topics with their partition counts, with a
// client and transport of its own (no pooled connection outlives the call).
func brokerTopics(t *testing.T, addr string) map[string]int {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(addr), Transport: tr, Timeout: 10 * time.Second}
	md, err := cl.Metadata(t.Context(), &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("metadata from the broker %s: %v", addr, err)
	}
	out := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error == nil {
			out[tp.Name] = len(tp.Partitions)
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// servicePort is the port number of the Service's port that reaches
// service s (named "http" in a Service of its own, after s in a shared one).
func servicePort(t *testing.T, kube kubernetes.Interface, ns, svc, s string) int32 {
	t.Helper()
	got, err := kube.CoreV1().Services(ns).Get(t.Context(), svc, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Service %s/%s: %v", ns, svc, err)
	}
	for _, p := range got.Spec.Ports {
		if p.Name == s || (len(got.Spec.Ports) == 1 && p.Name == "http") {
			return p.Port
		}
	}
	t.Fatalf("Service %s/%s has no port for %s: %v", ns, svc, s, got.Spec.Ports)
	return 0
}

// sliceServes says whether an EndpointSlice of the Service lists a ready
// endpoint on the given port.
func sliceServes(ctx context.Context, kube kubernetes.Interface, ns, svc string, port int32) error {
	list, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		return err
	}
	for _, sl := range list.Items {
		ported := false
		for _, p := range sl.Ports {
			ported = ported || (p.Port != nil && *p.Port == port)
		}
		for _, e := range sl.Endpoints {
			if ported && e.Conditions.Ready != nil && *e.Conditions.Ready {
				return nil
			}
		}
	}
	return fmt.Errorf("no ready endpoint of %s/%s on port %d in %d slices", ns, svc, port, len(list.Items))
}
