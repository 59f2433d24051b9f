package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"xinfang.io/operator/api/v1alpha1"
	"xinfang.io/operator/internal/render"
)

// The envtest suite runs the controller in a manager against a real
// kube-apiserver and etcd (KUBEBUILDER_ASSETS, built by hack/testbin.sh) with
// the generated CRD installed, and the county topics on an in-process Kafka
// (kfake). There is no kube-controller-manager: no garbage collector, no
// deployment controller, no namespace controller. So Deployments never
// become available (WorkloadsAvailable is asserted False/Progressing, never
// faked), owned objects are not collected after a County is deleted and a
// deleted namespace stays Terminating; the tests assert what the operator
// itself does (owner references, finalizer, deletion requests).

var (
	envSkip  string // why envtest tests skip (locally, without assets)
	cfg      *rest.Config
	k8s      client.Client // direct, uncached
	scheme   = runtime.NewScheme()
	brokers  []string
	rec      *CountyReconciler // the one the manager runs
	testOpts = render.Options{
		DefaultImageRepository: "registry.example.cn/xinfang", DefaultImageTag: "v0.1.0",
		IngressNamespace: "ingress-nginx", MonitoringNamespace: "monitoring",
		OTLPEndpoint: "http://otel-collector.monitoring.svc:4318", AuthJWKS: "https://idp.example.cn/jwks.json",
	}
)

// manualLabel marks Counties the manager does not see (its cache filters
// them out): tests drive their reconciles by hand.
const manualLabel = "test.xinfang.io/manual"

const (
	strimziNamespace = "kafka"
	// operatorNamespace holds the Secrets named by spec.kafka.secretRef.
	operatorNamespace = "xinfang-system"
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

// assets finds the kube-apiserver and etcd: KUBEBUILDER_ASSETS, else the
// directory hack/testbin.sh caches them in.
func assets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	base := os.Getenv("XINFANG_TESTBIN_DIR")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(c, "xinfang", "testbin")
	}
	dir := filepath.Join(base, "k8s-v1.35.4")
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return ""
		}
	}
	return dir
}

func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

func runSuite(m *testing.M) int {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	dir := assets()
	if dir == "" {
		msg := "envtest: no kube-apiserver/etcd: set KUBEBUILDER_ASSETS=$(hack/testbin.sh)"
		if inCI() {
			fmt.Fprintln(os.Stderr, "FAIL: "+msg+" (CI is set: missing assets fail the suite, they never skip it)")
			return 1
		}
		envSkip = msg
		return m.Run()
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: dir,
	}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start kfake:", err)
		return 1
	}
	defer kc.Close()
	brokers = kc.ListenAddrs()

	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: client:", err)
		return 1
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: operator namespace:", err)
		return 1
	}
	// The manager runs as a user with nothing but the generated ClusterRole
	// (config/rbac/role.yaml), so a missing permission fails the suite.
	opCfg, err := operatorConfig(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: operator RBAC:", err)
		return 1
	}
	cacheOpts := CacheOptions()
	notManual, _ := labels.Parse("!" + manualLabel)
	for k := range cacheOpts.ByObject { // keyed by pointer: replace, do not add a second County entry
		if _, ok := k.(*v1alpha1.County); ok {
			delete(cacheOpts.ByObject, k)
		}
	}
	cacheOpts.ByObject[&v1alpha1.County{}] = cache.ByObject{Label: notManual}
	mgr, err := ctrl.NewManager(opCfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOpts,
		Client:                 ClientOptions(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: manager:", err)
		return 1
	}
	rec = &CountyReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), RESTMapper: mgr.GetRESTMapper(),
		Recorder: mgr.GetEventRecorder("xinfang-operator"), Options: testOpts, OperatorNamespace: operatorNamespace, Topics: TopicOptions{Partitions: 6, StrimziNamespace: strimziNamespace},
		MaxConcurrentReconciles: 2,
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: setup:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		code = 1
	}
	return code
}

// operatorConfig adds the user the manager runs as, bound to the generated
// ClusterRole.
func operatorConfig(env *envtest.Environment) (*rest.Config, error) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		return nil, err
	}
	if err := k8s.Create(ctx, role); err != nil {
		return nil, err
	}
	const user = "xinfang-operator"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		return nil, err
	}
	u, err := env.AddUser(envtest.User{Name: user}, &rest.Config{QPS: 1000, Burst: 2000}) // as envtest's admin
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

func needEnv(t *testing.T) {
	t.Helper()
	if envSkip != "" {
		t.Skip(envSkip)
	}
}

// eventually polls f until it returns nil, failing the test with f's last
// error after the timeout.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	const timeout = 30 * time.Second
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sample is the anji County from config/samples under another name, with its
// Kafka pointed at the test broker.
func sample(t testing.TB, name string) *v1alpha1.County {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "county_anji.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := &v1alpha1.County{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		t.Fatal(err)
	}
	c.Name = name
	c.Spec.Kafka.BootstrapServers = brokers
	return c
}

// createCounty creates c and deletes it when the test ends (dropping the
// finalizer, so a failed test leaves nothing stuck).
func createCounty(t *testing.T, c *v1alpha1.County) *v1alpha1.County {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatalf("create county %s: %v", c.Name, err)
	}
	t.Cleanup(func() {
		cur := &v1alpha1.County{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: c.Name}, cur); err != nil {
			return
		}
		_ = k8s.Delete(ctx, cur)
		if len(cur.Finalizers) > 0 {
			_ = k8s.Patch(ctx, cur, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
		}
	})
	return c
}

func getCounty(t *testing.T, name string) *v1alpha1.County {
	t.Helper()
	c := &v1alpha1.County{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, c); err != nil {
		t.Fatalf("get county %s: %v", name, err)
	}
	return c
}

// updateCounty applies mutate to the latest County, retrying on conflicts.
func updateCounty(t *testing.T, name string, mutate func(*v1alpha1.County)) *v1alpha1.County {
	t.Helper()
	var c *v1alpha1.County
	eventually(t, "update county "+name, func() error {
		c = getCounty(t, name)
		mutate(c)
		return k8s.Update(context.Background(), c)
	})
	return c
}

// condition returns the County's condition typ when it describes the
// County's current generation.
func condition(c *v1alpha1.County, typ string) (*metav1.Condition, error) {
	cond := meta.FindStatusCondition(c.Status.Conditions, typ)
	if cond == nil {
		return nil, fmt.Errorf("no %s condition yet (conditions %v)", typ, c.Status.Conditions)
	}
	if cond.ObservedGeneration != c.Generation {
		return nil, fmt.Errorf("%s describes generation %d, not %d", typ, cond.ObservedGeneration, c.Generation)
	}
	return cond, nil
}

// waitCondition waits until the County's condition typ, for its current
// generation, has the status and reason.
func waitCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.County {
	t.Helper()
	var c *v1alpha1.County
	eventually(t, fmt.Sprintf("%s %s=%s/%s", name, typ, status, reason), func() error {
		c = getCounty(t, name)
		cond, err := condition(c, typ)
		if err != nil {
			return err
		}
		if cond.Status != status || cond.Reason != reason {
			return fmt.Errorf("%s is %s/%s: %s", typ, cond.Status, cond.Reason, cond.Message)
		}
		return nil
	})
	return c
}

var pokes atomic.Int64

// poke changes an annotation of the County, which triggers a reconcile (for
// what no watch reports, e.g. a CRD installed meanwhile).
func poke(t *testing.T, name string) {
	t.Helper()
	c := getCounty(t, name)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"test.xinfang.io/poke":"%d"}}}`, pokes.Add(1))
	if err := k8s.Patch(context.Background(), c, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatalf("poke %s: %v", name, err)
	}
}

// reconciles is how many reconciles of the county the manager finished.
func reconciles(t *testing.T, county string) uint64 {
	t.Helper()
	m := &dto.Metric{}
	if err := rec.metrics.duration.WithLabelValues(county).(prometheus.Metric).Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// settle returns once a reconcile of the county that started after settle
// was called has finished. One key is never reconciled twice at once, so of
// the reconciles that finish after the count is read at most one started
// earlier: two more finished reconciles include one that started later.
// Pokes make sure there are two.
func settle(t *testing.T, county string) {
	t.Helper()
	before := reconciles(t, county)
	eventually(t, "two reconciles of "+county, func() error {
		if n := reconciles(t, county); n < before+2 {
			poke(t, county)
			return fmt.Errorf("%d reconciles since", n-before)
		}
		return nil
	})
}
