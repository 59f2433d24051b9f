package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the scale benchmark measures: request counters scraped from the
// operator and the kube-apiserver, and the operator's profiles.

// samples are Prometheus series: "name{labels}" → value.
type samples map[string]float64

// sum adds every series of a metric.
func (s samples) sum(metric string) float64 {
	var t float64
	for k, v := range s {
		if k == metric || strings.HasPrefix(k, metric+"{") {
			t += v
		}
	}
	return t
}

func scrape(ctx context.Context, url string) (samples, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := samples{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// apiserverWrites are the API server's write requests (all clients: the
// operator, the controller-manager, the scheduler, kwok) between two
// scrapes of its /metrics, from apiserver_request_total{verb}.
func apiserverWrites(before, after samples) int64 {
	var n int64
	for k, v := range after {
		if !strings.HasPrefix(k, "apiserver_request_total{") {
			continue
		}
		for _, verb := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="DELETE"`, `verb="APPLY"`, `verb="CREATE"`, `verb="UPDATE"`} {
			if strings.Contains(k, verb) {
				n += int64(v - before[k])
				break
			}
		}
	}
	return n
}

func scrapeAPIServer(ctx context.Context, c *kubeCluster) (samples, error) {
	raw, err := c.kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	out := samples{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// requests are the operator's API requests between two scrapes, from
// client-go's rest_client_requests_total{method}: writes and reads.
func requests(before, after samples) (writes, reads int64) {
	for k, v := range after {
		if !strings.HasPrefix(k, "rest_client_requests_total{") {
			continue
		}
		d := int64(v - before[k])
		switch {
		case strings.Contains(k, `method="GET"`):
			reads += d
		case strings.Contains(k, `method="POST"`), strings.Contains(k, `method="PUT"`), strings.Contains(k, `method="PATCH"`), strings.Contains(k, `method="DELETE"`):
			writes += d
		}
	}
	return writes, reads
}

// settle waits until the operator has finished the work in flight — no
// reconcile for 5 s (at most 3 min) — and returns its metrics then: the
// writes a change causes include the reconciles that follow Ready (the
// Deployments' last status updates, say).
func settle(b *testing.B, url string) samples {
	var last samples
	quiet := 0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		m, err := scrape(b.Context(), url)
		if err != nil {
			b.Fatal(err)
		}
		if last != nil && m.sum("controller_runtime_reconcile_total") == last.sum("controller_runtime_reconcile_total") {
			quiet++
		} else {
			quiet = 0
		}
		last = m
		if quiet >= 5 || time.Now().After(deadline) {
			return m
		}
		time.Sleep(time.Second)
	}
}

// deltas lists the series of the metrics that changed between two scrapes.
func deltas(before, after samples, metrics ...string) string {
	var out []string
	for k, v := range after {
		for _, m := range metrics {
			if strings.HasPrefix(k, m+"{") && v != before[k] {
				out = append(out, fmt.Sprintf("%s +%.0f", k, v-before[k]))
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// captureProfiles takes a 30 s CPU profile of the operator from the start
// of provisioning.
func captureProfiles(b *testing.B, dir string, port int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Error(err)
		return
	}
	get := func(path, file string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			b.Errorf("profile %s: %v", path, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			b.Error(err)
			return
		}
		defer f.Close()
		_, _ = f.ReadFrom(resp.Body)
	}
	get("/debug/pprof/profile?seconds=30", "cpu.pprof")
}

// captureHeap takes a heap profile of the operator (after provisioning:
// every county cached).
func captureHeap(b *testing.B, dir string, port int) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?gc=1", port))
	if err != nil {
		b.Errorf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(dir, "heap.pprof"))
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	_, _ = f.ReadFrom(resp.Body)
}
