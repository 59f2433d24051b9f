package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"xinfang.io/hack/devbroker/brokertest"
)

// BenchmarkOperatorScale measures the operator at scale against a real
// control plane (hack/cluster.sh: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok — so Deployments really
// become available): N Counties applied at once, then a rules change to all
// of them.
//
//	cd e2e && XINFANG_BENCH_COUNTIES=1000 KUBEBUILDER_ASSETS=$(../hack/testbin.sh --cluster) \
//	  go test -run '^$' -bench BenchmarkOperatorScale -benchtime 1x -timeout 90m .
//
// The operator runs as in production: its own process (the manager built
// from operator/cmd/manager), the chart installed with helm, the chart's
// arguments (leader election on) and the chart's ServiceAccount, so the
// chart's RBAC. The counties' Kafka is one dev broker process (kfake) shared
// by all counties: the benchmark measures the operator, and the admin API
// calls it makes are the same against any broker. Counties use PostgreSQL
// (the bureau's database Secret is created with the namespace beforehand)
// and one replica per service: four pods per county on kwok nodes, or one
// with the PodPerCounty layout.
//
// Measured: seconds until every County is Ready for its generation; the
// operator's peak RSS (VmHWM) and CPU seconds (utime+stime, from /proc);
// the operator's API requests per County, counted by its own client
// (rest_client_requests_total: writes = POST/PUT/PATCH/DELETE, reads = GET,
// which includes its list/watch calls); reconciles per County; then the
// same for a rules change patched into every County, until every county
// ConfigMap carries the new rules version and every County is Ready again
// for the new generation; and the writes in an idle minute afterwards (a
// steady county should cost none).
//
// Knobs: XINFANG_BENCH_COUNTIES (required; unset skips), XINFANG_BENCH_LAYOUTS
// (the Counties' spec.layout, one run each on a fresh control plane; default
// PodPerService,PodPerCounty), XINFANG_BENCH_OPERATOR_BIN
// (a manager binary to measure instead of building operator/cmd/manager: an
// earlier commit's, for a before/after), XINFANG_BENCH_CHART (the chart
// directory to install, the same commit's), XINFANG_BENCH_TIMEOUT
// (per phase, default 20m), XINFANG_BENCH_OPERATOR_ARGS (extra manager flags,
// space-separated, after the chart's), XINFANG_BENCH_PROFILE=DIR (CPU and
// heap profiles of the operator during provisioning), XINFANG_BENCH_OUT=FILE
// (appends the result row as markdown), XINFANG_BENCH_IDLE (idle window,
// default 60s; 0 skips it), XINFANG_BENCH_AUDIT=DIR (an audit log of every
// write: writes per County by client, and how long each stage of a county
// took; it costs the API server, so not for timing runs). With
// XINFANG_BENCH_PROFILE the API server is profiled too, from the start of
// provisioning for XINFANG_BENCH_PROFILE_APISERVER (default 30s). CLUSTER_*_ARGS (see
// hack/cluster.sh) pass extra flags to the control plane's components.
//
// Logged besides the row: the CPU seconds of every control-plane process
// and the API server's writes per County by resource and verb.
func BenchmarkOperatorScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("XINFANG_BENCH_COUNTIES"))
	if n <= 0 {
		b.Skip("XINFANG_BENCH_COUNTIES not set: the operator scale benchmark starts a whole control plane; set it to the number of Counties (e.g. 500)")
	}
	timeout := envDuration(b, "XINFANG_BENCH_TIMEOUT", 20*time.Minute)
	idle := envDuration(b, "XINFANG_BENCH_IDLE", time.Minute)
	layouts := strings.Split(os.Getenv("XINFANG_BENCH_LAYOUTS"), ",")
	if layouts[0] == "" {
		layouts = []string{"PodPerService", "PodPerCounty"}
	}
	for _, layout := range layouts {
		b.Run("layout="+layout, func(b *testing.B) { benchScale(b, n, layout, timeout, idle) })
	}
}

// benchScale is one measured run of N Counties of one layout, each on a
// control plane of its own.
func benchScale(b *testing.B, n int, layout string, timeout, idle time.Duration) {
	for b.Loop() { // one measured run: -benchtime 1x
		r := runScale(b, n, layout, timeout, idle)
		b.ReportMetric(r.readySeconds, "ready-s")
		b.ReportMetric(r.rssMiB, "rss-MiB")
		b.ReportMetric(r.cpuSeconds, "cpu-s")
		b.ReportMetric(r.writesPerCounty, "writes/county")
		b.ReportMetric(r.readsPerCounty, "reads/county")
		b.ReportMetric(r.rollSeconds, "roll-s")
		b.ReportMetric(r.rollWritesPerCounty, "roll-writes/county")
		b.ReportMetric(r.clusterWritesPerCounty, "cluster-writes/county")
		b.ReportMetric(r.controlPlaneCPU, "control-plane-cpu-s")
		b.ReportMetric(0, "ns/op") // one run of minutes: ns/op says nothing
		row := r.row()
		b.Logf("layout %s", layout)
		b.Logf("\n%s\n%s", scaleHeader, row)
		if out := os.Getenv("XINFANG_BENCH_OUT"); out != "" {
			f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = fmt.Fprintln(f, row)
			_ = f.Close()
		}
	}
}

const scaleHeader = "| N | all Ready s (p50) | RSS peak MiB | CPU s (provision + roll) | writes/County | reads/County | reconciles/County | rules roll s | roll writes/County | idle writes/min | API server writes/County (all clients) | control plane CPU s (API server) | machine busy % |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"

type scaleResult struct {
	n                               int
	readySeconds, readyP50          float64
	rssMiB                          float64
	cpuSeconds, rollCPUSeconds      float64
	writesPerCounty, readsPerCounty float64
	reconcilesPerCounty             float64
	clusterWritesPerCounty          float64 // all clients' writes the API server served
	// CPU seconds of the control plane's processes (etcd, API server,
	// controller-manager, scheduler, kwok) while provisioning, the API
	// server's alone, and how busy the whole machine was (others' work
	// included): on a machine this size the control plane's CPU is what
	// bounds the time.
	controlPlaneCPU, apiserverCPU, machineBusy float64
	rollSeconds, rollWritesPerCounty           float64
	idleWritesPerMinute                        float64
	idleMeasured                               bool
}

func (r scaleResult) row() string {
	idle := "—"
	if r.idleMeasured {
		idle = fmt.Sprintf("%.0f", r.idleWritesPerMinute)
	}
	return fmt.Sprintf("| %d | %.1f (%.1f) | %.0f | %.1f + %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %.1f | %.0f (%.0f) | %.0f |",
		r.n, r.readySeconds, r.readyP50, r.rssMiB, r.cpuSeconds, r.rollCPUSeconds, r.writesPerCounty, r.readsPerCounty,
		r.reconcilesPerCounty, r.rollSeconds, r.rollWritesPerCounty, idle, r.clusterWritesPerCounty,
		r.controlPlaneCPU, r.apiserverCPU, r.machineBusy)
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// scaleBinDir is clusterBinDir for a benchmark: the cluster binaries from
// KUBEBUILDER_ASSETS or hack/testbin.sh --cluster.
func scaleBinDir(b *testing.B) string {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if len(missingBinaries(dir)) == 0 {
		return dir
	}
	out, err := exec.Command(filepath.Join(repoRoot, "hack", "testbin.sh"), "--cluster").Output()
	if err != nil {
		b.Fatalf("hack/testbin.sh --cluster: %v", err)
	}
	dir = strings.TrimSpace(string(out))
	if m := missingBinaries(dir); len(m) > 0 {
		b.Fatalf("%s lacks %v", dir, m)
	}
	return dir
}

func runScale(b *testing.B, n int, layout string, timeout, idle time.Duration) scaleResult {
	ctx := b.Context()
	dir := b.TempDir()
	bins := scaleBinDir(b)

	// The control plane must not be what throttles the rollouts: lift the
	// controller-manager's and scheduler's client limits (20 and 50 QPS by
	// default; kwok has none).
	b.Setenv("CLUSTER_KUBE_API_QPS", "1000")
	profileDir := os.Getenv("XINFANG_BENCH_PROFILE")
	auditDir := os.Getenv("XINFANG_BENCH_AUDIT")
	apiArgs := strings.Fields(os.Getenv("CLUSTER_APISERVER_ARGS"))
	if profileDir != "" {
		apiArgs = append(apiArgs, "--profiling=true")
	}
	if auditDir != "" {
		a, err := auditArgs(auditDir)
		if err != nil {
			b.Fatal(err)
		}
		apiArgs = append(apiArgs, a)
	}
	b.Setenv("CLUSTER_APISERVER_ARGS", strings.Join(apiArgs, " "))
	var (
		wg         sync.WaitGroup
		cluster    *kubeCluster
		clusterErr error
		buildErr   error
	)
	operatorBin := os.Getenv("XINFANG_BENCH_OPERATOR_BIN") // another build (say, of an earlier commit) to compare
	wg.Add(2)
	go func() { defer wg.Done(); cluster, clusterErr = startCluster(filepath.Join(dir, "cluster"), bins) }()
	go func() {
		defer wg.Done()
		if operatorBin == "" {
			operatorBin = filepath.Join(dir, "manager")
			buildErr = buildOperator(operatorBin)
		}
	}()
	b.Cleanup(func() {
		wg.Wait()
		if cluster != nil {
			_ = exec.Command(filepath.Join(repoRoot, "hack", "cluster.sh"), "stop", cluster.dir).Run()
		}
	})
	brokerBin := brokertest.Build(b)
	wg.Wait()
	if clusterErr != nil {
		b.Fatal(clusterErr)
	}
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	broker := brokertest.Start(ctx, b, brokerBin, "-listen", strconv.Itoa(brokertest.FreePort(b)), "-data-dir", "", "-auto-create=false", "-log-level", "warn")
	kube := cluster.kube

	// Room for four pods per county: kwok nodes of 500 pods each.
	nodes := int(math.Ceil(float64(4*n)/400)) + 1
	for i := range nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("bench-node-%d", i),
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels:      map[string]string{"kubernetes.io/hostname": fmt.Sprintf("bench-node-%d", i), "kubernetes.io/os": "linux", "type": "kwok"},
			},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000"), corev1.ResourceMemory: resource.MustParse("4Ti"), corev1.ResourcePods: resource.MustParse("500")},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000"), corev1.ResourceMemory: resource.MustParse("4Ti"), corev1.ResourcePods: resource.MustParse("500")},
			},
		}
		if _, err := kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			b.Fatalf("create node %s: %v", node.Name, err)
		}
	}

	// helm install: CRD, RBAC, ServiceAccount, the operator's Deployment
	// (which never runs: no image; the process below is the operator).
	helmBin := filepath.Join(bins, "helm")
	chart := chartDir
	if c := os.Getenv("XINFANG_BENCH_CHART"); c != "" {
		chart = c
	}
	if out, err := scaleHelm(cluster, helmBin, "install", release, chart, "-n", operatorNS, "--create-namespace"); err != nil {
		b.Fatalf("helm install: %v\n%s", err, out)
	}
	dep, err := kube.AppsV1().Deployments(operatorNS).Get(ctx, "xinfang-operator", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	waitFor(b, time.Minute, "County CRD established", func(ctx context.Context) error { return crdEstablished(ctx, cluster) })

	metricsPort, probesPort, pprofPort := brokertest.FreePort(b), brokertest.FreePort(b), brokertest.FreePort(b)
	args, err := operatorArgs(dep.Spec.Template.Spec.Containers[0].Args, metricsPort, probesPort)
	if err != nil {
		b.Fatal(err)
	}
	for i, a := range args {
		if strings.HasPrefix(a, "--leader-elect=") {
			args[i] = "--leader-elect=true" // as the chart runs it
		}
	}
	args = append(args, "--leader-election-namespace="+operatorNS)
	if profileDir != "" {
		args = append(args, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pprofPort))
	}
	args = append(args, strings.Fields(os.Getenv("XINFANG_BENCH_OPERATOR_ARGS"))...)
	sa := dep.Spec.Template.Spec.ServiceAccountName
	expiry := int64(6 * 3600)
	tok, err := kube.CoreV1().ServiceAccounts(operatorNS).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	opKubeconfig := filepath.Join(dir, "operator.kubeconfig")
	if err := cluster.writeKubeconfig(opKubeconfig, "system:serviceaccount:"+operatorNS+":"+sa, tok.Status.Token); err != nil {
		b.Fatal(err)
	}
	// The chart's environment (GOMEMLIMIT, say), as its pod would have it.
	env := []string{"KUBECONFIG=" + opKubeconfig, "POD_NAMESPACE=" + operatorNS}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	opLog := filepath.Join(dir, "operator.log")
	op := startOperator(b, operatorBin, opLog, env, args)
	b.Cleanup(func() {
		op.stop()
		if b.Failed() {
			data, _ := os.ReadFile(opLog)
			b.Logf("--- operator log (last lines):\n%s", tail(string(data), 60))
		}
	})
	waitFor(b, time.Minute, "operator ready", func(ctx context.Context) error {
		return httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", probesPort))
	})
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	waitFor(b, time.Minute, "operator leading", func(ctx context.Context) error {
		m, err := scrape(ctx, metricsURL)
		if err != nil {
			return err
		}
		if m.sum("leader_election_master_status") < 1 {
			return errors.New("not the leader yet")
		}
		return nil
	})
	b.Logf("operator %s running (pid %d) with %v, env %v; %d kwok nodes", operatorBin, op.pid(), args, env[2:], nodes)

	// What a bureau does before applying its County on PostgreSQL: the
	// namespace and the database Secret. Not timed.
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%04d", i)
	}
	parallel(b, names, 32, func(ctx context.Context, name string) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "xinfang-" + name}}
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "database", Namespace: ns.Name},
			StringData: map[string]string{"url": "postgres://xinfang@pg.example.cn/" + strings.ReplaceAll(name, "-", "_")}}
		if _, err := kube.CoreV1().Secrets(ns.Name).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	})
	template := benchCounty(b, broker.Addr, layout)

	track := newReadyTracker(cluster, names)
	if err := track.run(ctx); err != nil {
		b.Fatal(err)
	}

	before, err := scrape(ctx, metricsURL)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuSeconds(b, op.pid())
	api0, err := scrapeAPIServer(ctx, cluster)
	if err != nil {
		b.Fatal(err)
	}
	cp0 := controlPlaneCPU(b, cluster.dir)
	busy0, total0 := machineCPU(b)
	self0 := cpuSeconds(b, os.Getpid())
	var profiles sync.WaitGroup
	if profileDir != "" {
		profiles.Add(2)
		go func() {
			defer profiles.Done()
			captureProfiles(b, profileDir, pprofPort)
		}()
		go func() {
			defer profiles.Done()
			d := envDuration(b, "XINFANG_BENCH_PROFILE_APISERVER", 30*time.Second)
			if err := apiserverProfile(ctx, cluster, filepath.Join(profileDir, "apiserver-cpu.pprof"), d); err != nil {
				b.Errorf("API server profile: %v", err)
			}
		}()
	}

	// N Counties at once.
	t0 := time.Now()
	track.begin(t0, func(*countyState) bool { return true })
	parallel(b, names, 32, func(ctx context.Context, name string) error {
		u := template.DeepCopy()
		u.SetName(name)
		i, _ := strconv.Atoi(strings.TrimPrefix(name, "bench-"))
		_ = unstructured.SetNestedField(u.Object, fmt.Sprintf("9%05d", i), "spec", "divisionCode")
		_ = unstructured.SetNestedField(u.Object, "基准县"+strconv.Itoa(i), "spec", "displayName")
		_, err := cluster.dyn.Resource(countyGVR).Create(ctx, u, metav1.CreateOptions{})
		return err
	})
	b.Logf("%d Counties created in %s", n, time.Since(t0).Round(time.Millisecond))
	readyTimes, err := track.waitAll(ctx, timeout)
	if err != nil {
		b.Fatalf("provisioning: %v", err)
	}
	provisioned := time.Since(t0)
	profiles.Wait()
	if profileDir != "" {
		captureHeap(b, profileDir, pprofPort)
	}
	after := settle(b, metricsURL)
	cpu1 := cpuSeconds(b, op.pid())
	api1, err := scrapeAPIServer(ctx, cluster)
	if err != nil {
		b.Fatal(err)
	}
	cp1 := controlPlaneCPU(b, cluster.dir)
	busy1, total1 := machineCPU(b)
	b.Logf("CPU s while provisioning: %s; machine: %.0f of %.0f CPU s busy (%.0f%%)", cpuDeltas(cp0, cp1, map[string]float64{"operator": cpu1 - cpu0, "benchmark": cpuSeconds(b, os.Getpid()) - self0}),
		busy1-busy0, total1-total0, 100*(busy1-busy0)/(total1-total0))
	// Multi-line reports to stderr: a benchmark's log is cut to a few lines.
	fmt.Fprintf(os.Stderr, "API server writes per County by resource and verb:\n%s", apiserverWritesByResource(api0, api1, n))
	if auditDir != "" {
		time.Sleep(2 * time.Second) // the batched audit log flushed
		report, err := analyzeAudit(filepath.Join(auditDir, "audit.log"), names, t0, time.Now())
		if err != nil {
			b.Errorf("audit log: %v", err)
		}
		fmt.Fprintf(os.Stderr, "audit log:\n%s", report)
	}
	res := scaleResult{n: n, readySeconds: provisioned.Seconds(), readyP50: percentile(readyTimes, 0.5)}
	res.cpuSeconds = cpu1 - cpu0
	w, r := requests(before, after)
	res.writesPerCounty, res.readsPerCounty = float64(w)/float64(n), float64(r)/float64(n)
	res.reconcilesPerCounty = (after.sum("controller_runtime_reconcile_total") - before.sum("controller_runtime_reconcile_total")) / float64(n)
	res.clusterWritesPerCounty = float64(apiserverWrites(api0, api1)) / float64(n)
	for name, v := range cp1 {
		res.controlPlaneCPU += v - cp0[name]
	}
	res.apiserverCPU = cp1["kube-apiserver"] - cp0["kube-apiserver"]
	res.machineBusy = 100 * (busy1 - busy0) / (total1 - total0)
	b.Logf("all %d Ready after %s; operator %.1f CPU s, %d writes, %d reads", n, provisioned.Round(time.Millisecond), res.cpuSeconds, w, r)

	// A rules change in every County: one more keyword in a routing rule.
	oldVersions := track.rulesVersions()
	patch := []byte(`[{"op":"add","path":"/spec/routingRules/1/match/keywords/any/-","value":"推诿扯皮"}]`)
	gens := sync.Map{}
	t1 := time.Now()
	track.begin(t1, func(s *countyState) bool {
		g, _ := gens.Load(s.name)
		want, _ := g.(int64)
		return want > 0 && s.generation >= want && s.rulesVersion != oldVersions[s.name] && s.configMapVersion == s.rulesVersion
	})
	parallel(b, names, 32, func(ctx context.Context, name string) error {
		u, err := cluster.dyn.Resource(countyGVR).Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return err
		}
		gens.Store(name, u.GetGeneration())
		return nil
	})
	_, err = track.waitAll(ctx, timeout)
	if err != nil {
		b.Fatalf("rules roll: %v", err)
	}
	res.rollSeconds = time.Since(t1).Seconds()
	rolled := settle(b, metricsURL)
	cpu2 := cpuSeconds(b, op.pid())
	res.rollCPUSeconds = cpu2 - cpu1
	w, _ = requests(after, rolled)
	res.rollWritesPerCounty = float64(w) / float64(n)
	b.Logf("rules rolled to all %d in %.1fs; %d writes", n, res.rollSeconds, w)

	// Idle: a steady county costs no writes (the leader election lease
	// renewals, about 30 a minute, are in the count). Measured once the
	// roll has settled.
	if idle > 0 {
		time.Sleep(idle)
		quiet, err := scrape(ctx, metricsURL)
		if err != nil {
			b.Fatal(err)
		}
		w, _ = requests(rolled, quiet)
		res.idleWritesPerMinute = float64(w) / idle.Minutes()
		res.idleMeasured = true
		b.Logf("idle %s: %s", idle, deltas(rolled, quiet, "rest_client_requests_total", "controller_runtime_reconcile_total", "workqueue_adds_total"))
	}
	res.rssMiB = statusKiB(b, op.pid(), "VmHWM") / 1024
	track.stop()
	return res
}
