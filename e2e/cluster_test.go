package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

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
	layout              string // spec.layout; empty: the default (PodPerService)
	uid                 types.UID
}

// workloads are the county's Deployments (and their Services), by layout.
func (c *testCounty) workloads() []string {
	if c.layout == "PodPerCounty" {
		return []string{"county"}
	}
	return sorted(serviceNames)
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

	// Two counties: the anji sample and one derived from it, whose four
	// services share one pod.
	counties := []*testCounty{
		{name: "anji", display: "安吉县", code: "330523"},
		{name: "deqing", display: "德清县", code: "330521", layout: "PodPerCounty"},
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
