package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterBinaries are what hack/cluster.sh and the suite run.
var clusterBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm"}

// clusterBinDir returns the directory holding clusterBinaries:
// $KUBEBUILDER_ASSETS when it has them all. Otherwise a local run skips, and
// CI (CI=true) builds them with hack/testbin.sh --cluster (minutes, once;
// cached outside the checkout) and fails if that does not work.
func clusterBinDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	missing := missingBinaries(dir)
	if len(missing) == 0 {
		return dir
	}
	if os.Getenv("CI") != "true" {
		t.Skipf("cluster binaries %v not in KUBEBUILDER_ASSETS=%q; run `export KUBEBUILDER_ASSETS=$(hack/testbin.sh --cluster)`", missing, dir)
	}
	t.Logf("cluster binaries %v not in KUBEBUILDER_ASSETS=%q: running hack/testbin.sh --cluster", missing, dir)
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "testbin.sh"), "--cluster")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/testbin.sh --cluster: %v\n%s", err, tail(stderr.String(), 40))
	}
	dir = strings.TrimSpace(string(out))
	if missing := missingBinaries(dir); len(missing) > 0 {
		t.Fatalf("hack/testbin.sh --cluster printed %q, which lacks %v", dir, missing)
	}
	return dir
}

func missingBinaries(dir string) []string {
	var missing []string
	for _, b := range clusterBinaries {
		if dir == "" || !fileExists(filepath.Join(dir, b)) {
			missing = append(missing, b)
		}
	}
	return missing
}

// kubeCluster is a cluster started by hack/cluster.sh.
type kubeCluster struct {
	dir        string
	kubeconfig string // the admin's (system:masters)
	config     *rest.Config
	kube       kubernetes.Interface
	dyn        dynamic.Interface
}

// startCluster runs hack/cluster.sh start in a fresh directory. It returns an
// error rather than failing the test so that it can run beside the builds;
// the cluster is stopped by stop (registered by the caller as a cleanup) and,
// should the test binary die without cleanups, by cluster.sh's --owner
// watcher.
func startCluster(dir, bins string) (*kubeCluster, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "cluster.sh"), "start", dir,
		"--bin", bins, "--owner", fmt.Sprint(os.Getpid()))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hack/cluster.sh start: %v\n%s", err, tail(stderr.String(), 60))
	}
	c := &kubeCluster{dir: dir, kubeconfig: strings.TrimSpace(string(out))}
	c.config, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", c.kubeconfig, err)
	}
	c.config.QPS, c.config.Burst = 200, 400
	if c.kube, err = kubernetes.NewForConfig(c.config); err != nil {
		return nil, err
	}
	if c.dyn, err = dynamic.NewForConfig(c.config); err != nil {
		return nil, err
	}
	return c, nil
}

// stop stops every process of the cluster; on failure it logs their logs'
// last lines first.
func (c *kubeCluster) stop(t *testing.T) {
	t.Helper()
	if t.Failed() {
		for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "etcd"} {
			if b, err := os.ReadFile(filepath.Join(c.dir, "logs", name+".log")); err == nil {
				t.Logf("--- %s log (last lines):\n%s", name, tail(string(b), 25))
			}
		}
	}
	out, err := exec.Command(filepath.Join(repoRoot, "hack", "cluster.sh"), "stop", c.dir).CombinedOutput()
	if err != nil {
		t.Errorf("hack/cluster.sh stop: %v\n%s", err, out)
	}
}

// writeKubeconfig writes a kubeconfig for the same server that
// authenticates with a bearer token (a ServiceAccount's).
func (c *kubeCluster) writeKubeconfig(path, user, token string) error {
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		return err
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	auth := *cfg.AuthInfos[ctx.AuthInfo]
	auth.Token = token
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{user: &auth}
	ctx.AuthInfo = user
	return clientcmd.WriteToFile(*cfg, path)
}

// helmCmd runs helm against the cluster.
func (c *kubeCluster) helm(t *testing.T, helmBin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(helmBin, append(args, "--kubeconfig", c.kubeconfig)...)
	cmd.Dir = repoRoot
	// Keep helm's cache and config out of $HOME.
	home := filepath.Join(c.dir, "helm")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	countyGVR = schema.GroupVersionResource{Group: "xinfang.io", Version: "v1alpha1", Resource: "counties"}
	crdGVR    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// eventually polls cond every 200 ms until it returns nil or within passes;
// then it fails the test with cond's last error.
func eventually(t *testing.T, within time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var err error
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
		err = cond(callCtx)
		callCancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, within, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
