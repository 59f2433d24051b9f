package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xinfang.io/hack/devbroker/brokertest"
)

// repoRoot is the checkout, two levels up from this module's tests.
var repoRoot = func() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}()

// buildAll compiles the service binaries once per test binary run.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// TestMain removes the binaries built for the run: 125–180 MB a run, which
// filled the disk after a few hundred runs of the benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "xinfang-e2e-bin-")
		if buildErr != nil {
			return
		}
		// Built as the images build them (services/Dockerfile): static,
		// trimmed, stripped — so the footprint measured is the shipped one.
		if buildErr = buildServices(repoRoot, binDir); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "devbroker"), "./hack/devbroker")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build devbroker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// buildServices builds the service binaries of the checkout at tree into
// dir, as the images build them (services/Dockerfile): static, trimmed,
// stripped — so the footprint measured is the shipped one.
func buildServices(tree, dir string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+"/", "./cmd/intake", "./cmd/routing", "./cmd/supervision", "./cmd/statistics", "./cmd/devtoken")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = filepath.Join(tree, "services")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build services in %s: %v\n%s", tree, err, out)
	}
	return nil
}

// process is one service (or the broker) running as its own OS process.
type process struct {
	name string
	bin  string
	args []string
	env  []string
	log  *syncBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func newProcess(name, bin string, env []string, args ...string) *process {
	return &process{name: name, bin: bin, env: env, args: args, log: &syncBuffer{}}
}

func (p *process) start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
}

// kill crashes the process (SIGKILL) and waits for it to be gone.
func (p *process) kill(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop asks the process to stop (SIGTERM) and waits up to 20 s.
func (p *process) stop(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("%s did not stop within 20s of SIGTERM", p.name)
	}
}

// waitReady polls url until it answers 200.
func waitReady(t testing.TB, name, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s within %s", name, url, within)
}

// freePort picks a port for a service to listen on below the ephemeral
// range: a port the OS handed out for ":0" could be given to one of the
// test's own outgoing connections (to the broker, PostgreSQL) between this
// check and the service's bind, which failed a benchmark run with "address
// already in use".
func freePort(t testing.TB) int { return brokertest.FreePort(t) }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pid is the running process's id.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}
