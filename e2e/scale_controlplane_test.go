package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Where the control plane's work goes while the scale benchmark provisions
// its Counties: CPU seconds per control-plane process, the API server's
// writes per County by resource and verb (its own counters, always), and —
// with XINFANG_BENCH_AUDIT=DIR — an audit log of every write, from which
// the writes per County by client and the time each stage of a county took
// (created → objects applied → pods created → bound → running → Deployments
// available → Ready) are computed.

// controlPlaneCPU is the CPU seconds (utime+stime) of every process of the
// cluster (hack/cluster.sh's pids file: etcd, kube-apiserver, ...).
func controlPlaneCPU(b *testing.B, dir string) map[string]float64 {
	data, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, pid, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		p, err := strconv.Atoi(pid)
		if err != nil {
			continue
		}
		out[name] = cpuSeconds(b, p)
	}
	return out
}

// machineCPU is the machine's busy and total CPU seconds so far (from
// /proc/stat): with the control plane's and operator's own seconds it tells
// how much of the machine others used during a run.
func machineCPU(b *testing.B) (busy, total float64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		total += x
		if i != 3 && i != 4 { // idle, iowait
			busy += x
		}
	}
	const clockTicks = 100
	return busy / clockTicks, total / clockTicks
}

// cpuDeltas formats the CPU seconds each process used between two readings.
func cpuDeltas(before, after map[string]float64, extra map[string]float64) string {
	all := map[string]float64{}
	for k, v := range after {
		all[k] = v - before[k]
	}
	for k, v := range extra {
		all[k] = v
	}
	names := make([]string, 0, len(all))
	var total float64
	for k, v := range all {
		names = append(names, k)
		total += v
	}
	slices.SortFunc(names, func(a, b string) int { return int(all[b]*100) - int(all[a]*100) })
	parts := make([]string, 0, len(names)+1)
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, all[k]))
	}
	parts = append(parts, fmt.Sprintf("total %.1f", total))
	return strings.Join(parts, ", ")
}

// promLabel is the value of label name in a series key "m{a="x",b="y"}".
func promLabel(key, name string) string {
	i := strings.Index(key, name+`="`)
	if i < 0 {
		return ""
	}
	rest := key[i+len(name)+2:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "APPLY": true, "CREATE": true, "UPDATE": true,
	"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true, "apply": true}

// apiserverWritesByResource lists the API server's writes per County
// between two scrapes by resource[/subresource] and verb, most first.
func apiserverWritesByResource(before, after samples, n int) string {
	counts := map[string]float64{}
	for k, v := range after {
		if !strings.HasPrefix(k, "apiserver_request_total{") || !writeVerbs[promLabel(k, "verb")] {
			continue
		}
		d := v - before[k]
		if d <= 0 {
			continue
		}
		res := promLabel(k, "resource")
		if sub := promLabel(k, "subresource"); sub != "" {
			res += "/" + sub
		}
		counts[res+" "+promLabel(k, "verb")] += d
	}
	return perCountyTable(counts, n)
}

func perCountyTable(counts map[string]float64, n int) string {
	keys := make([]string, 0, len(counts))
	var total float64
	for k, v := range counts {
		keys = append(keys, k)
		total += v
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			if counts[a] > counts[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "  %-70s %7.2f\n", k, counts[k]/float64(n))
	}
	fmt.Fprintf(&sb, "  %-70s %7.2f\n", "total", total/float64(n))
	return sb.String()
}

// auditPolicy logs the metadata of every write and nothing of reads (a
// read-heavy log would cost the API server more than the writes do).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: Metadata
`

// auditArgs writes the policy into dir and returns the API server flags
// for a batched log file there.
func auditArgs(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("--audit-policy-file=%s --audit-log-path=%s --audit-log-mode=batch --audit-log-maxsize=0 --audit-log-format=json",
		policy, filepath.Join(dir, "audit.log")), nil
}

// auditEvent is what the analysis reads of an audit.k8s.io/v1 Event.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Received time.Time `json:"requestReceivedTimestamp"`
	Done     time.Time `json:"stageTimestamp"`
}

// client names who sent a request: the controller-manager's controllers
// by their user agent's last part (client-go appends the controller's
// name), the others by user.
func (e *auditEvent) client() string {
	u := e.User.Username
	switch {
	case u == "system:kube-controller-manager":
		ua := e.UserAgent
		if i := strings.LastIndexByte(ua, '/'); i >= 0 {
			ua = ua[i+1:]
		}
		return "kcm:" + ua
	case strings.HasPrefix(u, "system:serviceaccount:xinfang-system:"):
		return "operator"
	case u == "system:kube-scheduler":
		return "scheduler"
	case u == "admin":
		return "benchmark"
	}
	return u
}

// stages of a county's provisioning, in order; the time of each is when
// its last write of the county happened (the county is as far as its
// slowest object).
var stages = []struct {
	name  string
	match func(e *auditEvent) bool
}{
	{"County created", func(e *auditEvent) bool { return e.ObjectRef.Resource == "counties" && e.Verb == "create" }},
	{"operator: first object", func(e *auditEvent) bool { return false }}, // filled in by analyzeAudit: first operator write
	{"operator: Deployments applied", func(e *auditEvent) bool {
		return e.client() == "operator" && e.ObjectRef.Resource == "deployments" && e.ObjectRef.Subresource == ""
	}},
	{"ReplicaSets created", func(e *auditEvent) bool { return e.ObjectRef.Resource == "replicasets" && e.Verb == "create" }},
	{"pods created", func(e *auditEvent) bool {
		return e.ObjectRef.Resource == "pods" && e.ObjectRef.Subresource == "" && e.Verb == "create"
	}},
	{"pods bound", func(e *auditEvent) bool {
		return e.ObjectRef.Resource == "pods" && e.ObjectRef.Subresource == "binding"
	}},
	{"pods running (kwok)", func(e *auditEvent) bool {
		return e.ObjectRef.Resource == "pods" && e.ObjectRef.Subresource == "status" && e.User.Username == "kwok"
	}},
	{"Deployments available", func(e *auditEvent) bool {
		return e.ObjectRef.Resource == "deployments" && e.ObjectRef.Subresource == "status"
	}},
	{"County Ready (last status patch)", func(e *auditEvent) bool {
		return e.ObjectRef.Resource == "counties" && e.ObjectRef.Subresource == "status"
	}},
}

// analyzeAudit reads the audit log and reports the writes per County
// between from and to by client, resource and verb, and the stage timings
// (seconds after from; p50, p90 and max over the counties).
func analyzeAudit(path string, names []string, from, to time.Time) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	county := map[string]string{} // namespace or County name → county
	for _, n := range names {
		county[n] = n
		county["xinfang-"+n] = n
	}
	counts := map[string]float64{}
	clients := map[string]float64{}
	first := map[string]time.Time{}           // county → first operator write
	last := map[string]map[string]time.Time{} // stage → county → last write
	for _, s := range stages {
		last[s.name] = map[string]time.Time{}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ObjectRef == nil || !writeVerbs[e.Verb] {
			continue
		}
		if e.Received.Before(from) || e.Received.After(to) {
			continue
		}
		res := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			res += "/" + e.ObjectRef.Subresource
		}
		cl := e.client()
		counts[fmt.Sprintf("%-32s %-36s %s", cl, res, e.Verb)]++
		clients[cl]++
		c := county[e.ObjectRef.Namespace]
		if c == "" && e.ObjectRef.Resource == "counties" {
			c = county[e.ObjectRef.Name]
		}
		if c == "" {
			continue
		}
		if cl == "operator" {
			if t, ok := first[c]; !ok || e.Done.Before(t) {
				first[c] = e.Done
			}
		}
		for _, s := range stages {
			if s.match(&e) {
				if t, ok := last[s.name][c]; !ok || e.Done.After(t) {
					last[s.name][c] = e.Done
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	last["operator: first object"] = first
	n := len(names)
	var sb strings.Builder
	fmt.Fprintf(&sb, "writes per County by client (%d counties):\n%s", n, perCountyTable(clients, n))
	fmt.Fprintf(&sb, "writes per County by client, resource and verb:\n%s", perCountyTable(counts, n))
	fmt.Fprintf(&sb, "stages (s after the first create; p50 / p90 / max over counties; p50 of the step from the stage before):\n")
	var prev map[string]time.Time
	for _, s := range stages {
		var at, step []float64
		for _, c := range names {
			t, ok := last[s.name][c]
			if !ok {
				continue
			}
			at = append(at, t.Sub(from).Seconds())
			if p, ok := prev[c]; ok {
				step = append(step, t.Sub(p).Seconds())
			}
		}
		fmt.Fprintf(&sb, "  %-36s %7.1f %7.1f %7.1f   step %6.1f   (%d counties)\n", s.name,
			percentile(at, 0.5), percentile(at, 0.9), percentile(at, 1), percentile(step, 0.5), len(at))
		prev = last[s.name]
	}
	return sb.String(), nil
}

// apiserverProfile takes a CPU profile of the API server (it runs with
// --profiling=true when the benchmark profiles) over d.
func apiserverProfile(ctx context.Context, c *kubeCluster, file string, d time.Duration) error {
	raw, err := c.kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(int(d.Seconds()))).
		Timeout(d + 30*time.Second).DoRaw(ctx)
	if err != nil {
		return err
	}
	return os.WriteFile(file, raw, 0o644)
}
