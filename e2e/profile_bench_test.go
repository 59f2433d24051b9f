package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// profile collects, when XINFANG_BENCH_PROFILE_DIR is set, a CPU profile of
// every service over the first XINFANG_BENCH_PROFILE_SECONDS (default 10)
// of the run and an allocation profile at its end, into
// DIR/<label>-<service>.{cpu,allocs}.pprof. The returned function waits for
// the downloads. Read them with `go tool pprof -top BIN FILE`.
func (p *pipeline) profile(b *testing.B, label string) func() {
	dir := os.Getenv("XINFANG_BENCH_PROFILE_DIR")
	if dir == "" || len(p.c.debug) == 0 {
		return func() {}
	}
	seconds, err := strconv.Atoi(envOr("XINFANG_BENCH_PROFILE_SECONDS", "10"))
	if err != nil || seconds < 1 {
		b.Fatalf("XINFANG_BENCH_PROFILE_SECONDS: want a positive number of seconds")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(serviceNames))
	for _, s := range serviceNames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- download(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.c.debug[s], seconds),
				filepath.Join(dir, label+"-"+s+".cpu.pprof"))
		}()
	}
	return func() {
		wg.Wait()
		for _, s := range serviceNames {
			errs <- download("http://"+p.c.debug[s]+"/debug/pprof/allocs", filepath.Join(dir, label+"-"+s+".allocs.pprof"))
		}
		close(errs)
		for err := range errs {
			if err != nil {
				b.Error(err)
			}
		}
	}
}

func download(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
