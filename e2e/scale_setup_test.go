package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The scale benchmark's fixtures: the County it applies, the operator as a
// process, helm, and the waits and fan-out it runs them with.

// benchCounty is the anji sample as a template: the dev broker, PostgreSQL,
// one replica per service, the layout given.
func benchCounty(b *testing.B, broker, layout string) *unstructured.Unstructured {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "operator/config/samples/county_anji.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		b.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(unstructured.SetNestedStringSlice(u.Object, []string{broker}, "spec", "kafka", "bootstrapServers"))
	must(unstructured.SetNestedField(u.Object, "postgres", "spec", "database", "type"))
	must(unstructured.SetNestedField(u.Object, layout, "spec", "layout"))
	for _, s := range serviceNames {
		must(unstructured.SetNestedField(u.Object, int64(1), "spec", "services", s, "replicas"))
	}
	return u
}

// parallel runs f for every name with at most workers at once and fails
// the benchmark on the first error.
func parallel(b *testing.B, names []string, workers int, f func(context.Context, string) error) {
	ctx := b.Context()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Value
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) || first.Load() != nil {
					return
				}
				if err := f(ctx, names[i]); err != nil {
					first.CompareAndSwap(nil, fmt.Errorf("%s: %w", names[i], err))
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		b.Fatal(err)
	}
}

func waitFor(b *testing.B, within time.Duration, what string, cond func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(b.Context(), within)
	defer cancel()
	for {
		err := cond(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%s: not within %s: %v", what, within, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func scaleHelm(c *kubeCluster, helmBin string, args ...string) (string, error) {
	cmd := exec.Command(helmBin, append(args, "--kubeconfig", c.kubeconfig)...)
	cmd.Dir = repoRoot
	home := filepath.Join(c.dir, "helm")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// scaleOperator is the operator process; its log goes to a file (thousands
// of counties log more than a test should hold in memory).
type scaleOperator struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startOperator(b *testing.B, bin, logFile string, env, args []string) *scaleOperator {
	f, err := os.Create(logFile)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	o := &scaleOperator{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(o.exited) }()
	return o
}

func (o *scaleOperator) pid() int { return o.cmd.Process.Pid }

func (o *scaleOperator) stop() {
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.exited:
	case <-time.After(20 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.exited
	}
}
