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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"xinfang.io/hack/devbroker/brokertest"
)

// The control-plane suite: a real kube-apiserver, etcd, controller-manager,
// scheduler and kwok (hack/cluster.sh); the operator's chart installed with
// helm; the operator running as a process with the chart's flags and the
// chart's ServiceAccount (so the chart's RBAC is what it runs with); the dev
// broker for the counties' topics.
const (
	release    = "xinfang"
	operatorNS = "xinfang-system"
	chartDir   = "charts/xinfang-operator"
	fakeNode   = "kwok-node-0" // hack/cluster.sh's kwok node
	countyKey  = "xinfang.io/county"
	// newCRDField is what the upgraded chart adds to the County schema.
	newCRDField = "e2eNote"
)

// streams name the county topics xinfang.<county>.<stream> (the operator's controller.Streams).
var streams = []string{"petitions", "routing", "cases", "alerts", "deadletter"}

// testCounty is one County the suite applies.
type testCounty struct {
	name, display, code string
	uid                 types.UID
}

func (c *testCounty) ns() string { return "xinfang-" + c.name }

func TestCluster(t *testing.T) {
	bins := clusterBinDir(t)
	helmBin := filepath.Join(bins, "helm")
	ctx := t.Context()
	start := time.Now()
	dir := t.TempDir()

	// The cluster, the operator and the broker are built or started side by
	// side (2 cores: the builds are mostly cached, the cluster mostly waits).
	var (
		wg         sync.WaitGroup
		cluster    *kubeCluster
		clusterErr error
		buildErr   error
	)
	operatorBin := filepath.Join(dir, "manager")
	wg.Add(2)
	go func() {
		defer wg.Done()
		cluster, clusterErr = startCluster(filepath.Join(dir, "cluster"), bins)
	}()
	go func() {
		defer wg.Done()
		buildErr = buildOperator(operatorBin)
	}()
	t.Cleanup(func() {
		wg.Wait()
		if cluster != nil {
			cluster.stop(t)
		}
	})
	brokerBin := brokertest.Build(t)
	wg.Wait()
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Logf("cluster up and binaries built in %s", time.Since(start).Round(time.Millisecond))
	broker := brokertest.Start(ctx, t, brokerBin, "-listen", strconv.Itoa(brokertest.FreePort(t)), "-data-dir", "", "-auto-create=false")
	kube := cluster.kube

	// helm install: CRD, RBAC, ServiceAccount, the operator's Deployment.
	t.Log(cluster.helm(t, helmBin, "install", release, chartDir, "-n", operatorNS, "--create-namespace"))
	dep, err := kube.AppsV1().Deployments(operatorNS).Get(ctx, "xinfang-operator", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the chart's operator Deployment: %v", err)
	}
	eventually(t, 30*time.Second, "County CRD established", func(ctx context.Context) error {
		return crdEstablished(ctx, cluster)
	})

	// The operator as a process: the chart's flags, its ServiceAccount's token.
	probes, metrics := brokertest.FreePort(t), brokertest.FreePort(t)
	args, err := operatorArgs(dep.Spec.Template.Spec.Containers[0].Args, metrics, probes)
	if err != nil {
		t.Fatal(err)
	}
	sa := dep.Spec.Template.Spec.ServiceAccountName
	expiry := int64(3600)
	tok, err := kube.CoreV1().ServiceAccounts(operatorNS).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", operatorNS, sa, err)
	}
	opKubeconfig := filepath.Join(dir, "operator.kubeconfig")
	if err := cluster.writeKubeconfig(opKubeconfig, "system:serviceaccount:"+operatorNS+":"+sa, tok.Status.Token); err != nil {
		t.Fatal(err)
	}
	operator := newProcess("operator", operatorBin, []string{"KUBECONFIG=" + opKubeconfig, "POD_NAMESPACE=" + operatorNS}, args...)
	operator.start(t)
	t.Cleanup(func() {
		operator.stop(t)
		if t.Failed() {
			t.Logf("--- operator log (last lines):\n%s", tail(operator.log.String(), 60))
		}
	})
	waitReady(t, "operator", fmt.Sprintf("http://127.0.0.1:%d/readyz", probes), 60*time.Second)
	t.Logf("operator running with %v", args)

	// Two counties: the anji sample and one derived from it.
	counties := []*testCounty{
		{name: "anji", display: "安吉县", code: "330523"},
		{name: "deqing", display: "德清县", code: "330521"},
	}
	for _, c := range counties {
		createVolumes(t, cluster, c)
		u := sampleCounty(t, c, broker.Addr)
		created, err := cluster.dyn.Resource(countyGVR).Create(ctx, u, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create County %s: %v", c.name, err)
		}
		c.uid = created.GetUID()
	}
	for _, c := range counties {
		waitCountyReady(t, cluster, c.name, 0, 90*time.Second)
	}
	t.Logf("both counties Ready after %s", time.Since(start).Round(time.Millisecond))

	flags := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		flags[k] = v
	}
	wantPartitions, err := strconv.Atoi(flags["--topic-partitions"]) // the chart's counties.topicPartitions
	if err != nil {
		t.Fatalf("--topic-partitions: %v", err)
	}
	t.Run("provisioned", func(t *testing.T) {
		for _, c := range counties {
			checkCounty(t, cluster, c, broker.Addr)
		}
		topics := brokerTopics(t, broker.Addr)
		var want []string
		for _, c := range counties {
			want = append(want, countyTopics(c.name)...)
		}
		sort.Strings(want)
		if got := keys(topics); !slices.Equal(got, want) {
			t.Errorf("topics on the broker: %v, want exactly %v", got, want)
		}
		for name, n := range topics {
			if n != wantPartitions {
				t.Errorf("topic %s has %d partitions, want %d (--topic-partitions)", name, n, wantPartitions)
			}
		}
	})
	t.Run("share nothing", func(t *testing.T) {
		checkShareNothing(t, cluster, counties[0], counties[1], flags)
		checkShareNothing(t, cluster, counties[1], counties[0], flags)
	})
	if t.Failed() {
		return
	}

	t.Run("helm upgrade changes the CRD", func(t *testing.T) {
		chart := upgradedChart(t, filepath.Join(dir, "chart"))
		t.Log(cluster.helm(t, helmBin, "upgrade", release, chart, "-n", operatorNS))
		eventually(t, 30*time.Second, "the upgraded CRD", func(ctx context.Context) error {
			crd, err := cluster.dyn.Resource(crdGVR).Get(ctx, "counties.xinfang.io", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
				return fmt.Errorf("annotations %v lack helm.sh/resource-policy: keep", crd.GetAnnotations())
			}
			if !crdHasField(crd) {
				return fmt.Errorf("spec.%s not in the served schema", newCRDField)
			}
			return nil
		})
		// The API server now keeps the new field (it prunes unknown ones);
		// the operator follows the new generation.
		anji := counties[0]
		var gen int64
		eventually(t, 30*time.Second, "County keeps the new field", func(ctx context.Context) error {
			patch := fmt.Sprintf(`{"spec":{%q:"upgraded"}}`, newCRDField)
			u, err := cluster.dyn.Resource(countyGVR).Patch(ctx, anji.name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			if err != nil {
				return err
			}
			if v, _, _ := unstructured.NestedString(u.Object, "spec", newCRDField); v != "upgraded" {
				return fmt.Errorf("spec.%s pruned: the new schema is not served yet", newCRDField)
			}
			gen = u.GetGeneration()
			return nil
		})
		waitCountyReady(t, cluster, anji.name, gen, 60*time.Second)
	})

	t.Run("deleting a Retain county keeps its data and topics", func(t *testing.T) {
		c := counties[1]
		u, err := cluster.dyn.Resource(countyGVR).Get(ctx, c.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p, _, _ := unstructured.NestedString(u.Object, "spec", "deletionPolicy"); p != "Retain" {
			t.Fatalf("County %s has deletionPolicy %q, want Retain (the default)", c.name, p)
		}
		if f := u.GetFinalizers(); len(f) > 0 {
			t.Errorf("a Retain County carries finalizers %v", f)
		}
		pvcs := pvcUIDs(t, cluster, c)
		background := metav1.DeletePropagationBackground
		if err := cluster.dyn.Resource(countyGVR).Delete(ctx, c.name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "County "+c.name+" gone", func(ctx context.Context) error {
			_, err := cluster.dyn.Resource(countyGVR).Get(ctx, c.name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (err %v)", err)
		})
		// The owned objects go with the County (garbage collector) ...
		// The garbage collector acts once it watches Counties, which it
		// discovers every 30 s after the CRD appeared.
		eventually(t, 90*time.Second, "owned objects of "+c.name+" collected", func(ctx context.Context) error {
			deps, err := kube.AppsV1().Deployments(c.ns()).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			nps, err := kube.NetworkingV1().NetworkPolicies(c.ns()).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			pods, err := kube.CoreV1().Pods(c.ns()).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if n := len(deps.Items) + len(nps.Items) + len(pods.Items); n > 0 {
				return fmt.Errorf("%d deployments, %d network policies, %d pods left", len(deps.Items), len(nps.Items), len(pods.Items))
			}
			return nil
		})
		// ... the records stay: namespace, volumes, intake keys, topics.
		checkRetained(t, cluster, c, pvcs, broker.Addr, wantPartitions)
		// The other county is untouched.
		waitCountyReady(t, cluster, counties[0].name, 0, 10*time.Second)
		checkCounty(t, cluster, counties[0], broker.Addr)
	})

	t.Run("helm uninstall keeps the counties", func(t *testing.T) {
		// Uninstalling removes the operator's Deployment, hence the operator.
		operator.stop(t)
		out := cluster.helm(t, helmBin, "uninstall", release, "-n", operatorNS)
		t.Log(out)
		if !strings.Contains(out, "kept due to the resource policy") || !strings.Contains(out, "counties.xinfang.io") {
			t.Errorf("helm uninstall does not report the CRD as kept:\n%s", out)
		}
		eventually(t, 30*time.Second, "the release's objects removed", func(ctx context.Context) error {
			if _, err := kube.AppsV1().Deployments(operatorNS).Get(ctx, "xinfang-operator", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("operator Deployment: %v", err)
			}
			if _, err := kube.RbacV1().ClusterRoles().Get(ctx, "xinfang-operator", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("ClusterRole: %v", err)
			}
			return nil
		})
		// Give the API server and the garbage collector time to act on a
		// wrongly deleted CRD (which would delete every County).
		time.Sleep(2 * time.Second)
		crd, err := cluster.dyn.Resource(crdGVR).Get(ctx, "counties.xinfang.io", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the County CRD after helm uninstall: %v", err)
		}
		if crd.GetDeletionTimestamp() != nil {
			t.Fatal("the County CRD is being deleted after helm uninstall")
		}
		if !crdHasField(crd) {
			t.Errorf("the kept CRD is not the upgraded one")
		}
		anji := counties[0]
		u, err := cluster.dyn.Resource(countyGVR).Get(ctx, anji.name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("County %s after helm uninstall: %v", anji.name, err)
		}
		if u.GetDeletionTimestamp() != nil || u.GetUID() != anji.uid {
			t.Errorf("County %s after helm uninstall: deletion %v, uid %s (was %s)", anji.name, u.GetDeletionTimestamp(), u.GetUID(), anji.uid)
		}
		deps, err := kube.AppsV1().Deployments(anji.ns()).List(ctx, metav1.ListOptions{})
		if err != nil || len(deps.Items) != len(serviceNames) {
			t.Errorf("county %s's Deployments after helm uninstall: %d (%v)", anji.name, len(deps.Items), err)
		}
		// The deleted Retain county's records are still there too.
		checkRetained(t, cluster, counties[1], nil, broker.Addr, wantPartitions)
	})
	// The operator ran with the chart's ClusterRole: nothing it tried was
	// refused.
	for _, line := range strings.Split(operator.log.String(), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the operator was refused something under the chart's RBAC: %s", line)
		}
	}
	t.Logf("control-plane suite took %s", time.Since(start).Round(time.Millisecond))
}

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
		env := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if env["XINFANG_COUNTY"] != county.name || env["XINFANG_KAFKA_BROKERS"] != broker {
			t.Errorf("Deployment %s/%s: XINFANG_COUNTY=%q XINFANG_KAFKA_BROKERS=%q", ns, d.Name, env["XINFANG_COUNTY"], env["XINFANG_KAFKA_BROKERS"])
		}
	}
	sort.Strings(names)
	if want := sorted(serviceNames); !slices.Equal(names, want) {
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
	}
	for _, s := range serviceNames {
		if running[s] != 1 {
			t.Errorf("%s: %d Running pods of %s, want 1 (SQLite: one replica)", ns, running[s], s)
		}
	}

	// NetworkPolicies: default deny, and every peer a namespace selected by
	// the label the API server sets itself.
	nps, err := kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var npNames []string
	for _, np := range nps.Items {
		npNames = append(npNames, np.Name)
		if np.Name == "default-deny" && (len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) > 0 ||
			!slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Ingress) > 0) {
			t.Errorf("NetworkPolicy %s/default-deny does not deny all ingress: %+v", ns, np.Spec)
		}
	}
	sort.Strings(npNames)
	if want := []string{"allow-ingress-intake", "allow-monitoring", "allow-same-namespace", "default-deny"}; !slices.Equal(npNames, want) {
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
	if total < 30 {
		t.Errorf("only %d objects found in %s: the check saw too little", total, a.ns())
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
