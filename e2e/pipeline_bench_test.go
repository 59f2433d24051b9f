package e2e

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The pipeline benchmarks run a whole county as separate processes (the
// four service binaries, the dev broker or the one in XINFANG_TEST_BROKERS,
// SQLite files or PostgreSQL databases) and drive it through intake's HTTP
// API like a county's clerks would. A petition counts when statistics shows
// both its registration and its routing decision and supervision has
// consumed every routing decision: it went through all four services.
//
// make bench runs them next to the raw kafka-go baseline on the same broker
// (services/kit/kitbench) and prints the ratio; docs/benchmarks.md has the
// method and the numbers.

// BenchmarkPipeline measures sustained petitions/s at saturation (64 clients)
// and the latency from POST to visible in statistics at paced rates.
//
// With XINFANG_BENCH_BASELINE_TREE set to another checkout (make bench
// uses a worktree of an earlier commit), the same runs are made with that
// checkout's services first, under the name build=baseline: a before/after
// of the performance work in one run, on one broker.
func BenchmarkPipeline(b *testing.B) {
	stores := strings.Split(envOr("XINFANG_BENCH_STORES", "sqlite,postgres"), ",")
	builds := []struct{ name, bin string }{{"current", ""}}
	if tree := os.Getenv("XINFANG_BENCH_BASELINE_TREE"); tree != "" {
		dir := b.TempDir()
		if err := buildServices(tree, dir); err != nil {
			b.Fatal(err)
		}
		builds = append([]struct{ name, bin string }{{"baseline", dir}}, builds...)
	}
	for _, build := range builds {
		for _, store := range stores {
			name := "store=" + store
			if len(builds) > 1 {
				name = "build=" + build.name + "/" + name
			}
			b.Run(name, func(b *testing.B) {
				runPipeline(b, store, build.bin)
			})
		}
	}
}

// runPipeline starts a county on store with the binaries in bin (this
// checkout's when empty) and runs the saturation and paced benchmarks.
func runPipeline(b *testing.B, store, bin string) {
	debug := os.Getenv("XINFANG_BENCH_PROFILE_DIR") != "" && bin == ""
	c := startCountyWith(b, countyOptions{sqlite: store == "sqlite", brokers: os.Getenv("XINFANG_TEST_BROKERS"),
		debug: debug, bin: bin})
	p := &pipeline{c: c}
	b.Run("max", func(b *testing.B) { p.saturate(b, 64) })
	for _, rate := range []int{100, 500} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { p.paced(b, rate) })
	}
}

// pipeline drives one county; sent accumulates across the sub-benchmarks
// so every run continues where the previous one ended.
type pipeline struct {
	c    *county
	sent int
	s    sent
}

// progress is what the county has processed of everything sent so far.
type progress struct {
	registered, decided, supervised int64
}

// progress reads statistics' summary: what it shows of everything sent so
// far. It may run on any goroutine: it returns its failure.
func (p *pipeline) progress() (progress, error) {
	var s summary
	q := fmt.Sprintf("/v1/stats/summary?from=%s&to=%s", today().AddDate(0, 0, -1).Format("2006-01-02"), today().Format("2006-01-02"))
	if code, err := p.c.call("GET", "statistics", q, "supervisor", nil, &s); err != nil || code != 200 {
		return progress{}, fmt.Errorf("summary: %d %v", code, err)
	}
	var pr progress
	pr.registered = s.Counts["registrations"].Value
	for _, k := range []string{"assigned", "transferred", "diverted", "forwarded", "notAccepted"} {
		pr.decided += s.Counts[k].Value
	}
	return pr, nil
}

// through reports whether all n petitions went through the four services.
// It reads supervision's /metrics only once statistics shows all n: a paced
// run probes every few milliseconds, and a scrape each time cost supervision
// a quarter of its CPU and made every sample of the curve late by the
// scrape's own time.
func (p *pipeline) through(pr *progress, n int64) (bool, error) {
	if pr.registered < n || pr.decided < n {
		return false, nil
	}
	var err error
	pr.supervised, err = consumedFrom(p.c.url["supervision"], ".routing")
	return pr.supervised >= pr.decided, err
}

// consumedFrom sums a service's consumed-message counter over the topics
// ending in suffix, from its /metrics page.
func consumedFrom(base, suffix string) (int64, error) {
	m, err := scrape(context.Background(), base+"/metrics")
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	var n int64
	for k, v := range m {
		if strings.HasPrefix(k, "xinfang_kafka_consumed_messages_total{") && strings.Contains(k, suffix+`"`) {
			n += int64(v)
		}
	}
	return n, nil
}

// batchSizes is a service's mean batch per consumer group since it
// started, from its /metrics page ("group=n.n …").
func batchSizes(base string) (string, error) {
	m, err := scrape(context.Background(), base+"/metrics")
	if err != nil {
		return "", fmt.Errorf("metrics: %w", err)
	}
	const count = "xinfang_kafka_consume_batch_messages_count"
	var out []string
	for k, n := range m {
		labels, ok := strings.CutPrefix(k, count)
		if ok && n > 0 {
			out = append(out, fmt.Sprintf("%s=%.1f", strings.Trim(labels, "{}"), m["xinfang_kafka_consume_batch_messages_sum"+labels]/n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " "), nil
}

func (p *pipeline) waitThrough(b *testing.B, n int64, within time.Duration) {
	b.Helper()
	deadline := time.Now().Add(within)
	for {
		pr, err := p.progress()
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := p.through(&pr, n); err != nil {
			b.Fatal(err)
		} else if ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("after %s: registered %d, decided %d, supervised %d (read once both reach n) of n=%d", within, pr.registered, pr.decided, pr.supervised, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// saturate sends b.N petitions from `clients` clients as fast as intake
// takes them and times until all went through the pipeline.
func (p *pipeline) saturate(b *testing.B, clients int) {
	p.s.byChannel = map[string]int64{}
	stopProfiles := p.profile(b, "max")
	cpu := p.startCPU(b)
	b.ResetTimer()
	start := time.Now()
	if err := p.c.send(b.N, clients, p.sent, &p.s); err != nil {
		b.Fatal(err)
	}
	accepted := time.Since(start)
	p.sent += b.N
	p.waitThrough(b, int64(p.sent), 5*time.Minute)
	elapsed := time.Since(start)
	b.StopTimer()
	p.reportCPU(b, cpu, b.N)
	for _, name := range serviceNames {
		if sizes, err := batchSizes(p.c.url[name]); err == nil && sizes != "" {
			b.Logf("%s: mean batch %s", name, sizes)
		}
	}
	stopProfiles()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "petitions/s")
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(0, "ns/op")
}

// cpuAt is the CPU time the services, the load generator and the county's
// own broker process (not a shared one) had used at a run's start.
type cpuAt struct {
	services       map[string]float64
	driver, broker float64
}

func (p *pipeline) startCPU(b *testing.B) cpuAt {
	at := cpuAt{services: p.cpuSeconds(b), driver: cpuSeconds(b, os.Getpid())}
	if p.c.broker != nil {
		at.broker = cpuSeconds(b, p.c.broker.Pid())
	}
	return at
}

// reportCPU reports what each process used since start per petition of n.
func (p *pipeline) reportCPU(b *testing.B, start cpuAt, n int) {
	var total float64
	for name, after := range p.cpuSeconds(b) {
		used := (after - start.services[name]) * 1000 / float64(n)
		b.ReportMetric(used, name+"-cpu-ms/petition")
		total += used
	}
	b.ReportMetric(total, "services-cpu-ms/petition")
	b.ReportMetric((cpuSeconds(b, os.Getpid())-start.driver)*1000/float64(n), "driver-cpu-ms/petition")
	if p.c.broker != nil {
		b.ReportMetric((cpuSeconds(b, p.c.broker.Pid())-start.broker)*1000/float64(n), "broker-cpu-ms/petition")
	}
}

// cpuSeconds is the CPU time each service process has used so far: per
// petition, it is what a petition costs each service, a figure that
// holds when the machine is shared and the throughput does not.
func (p *pipeline) cpuSeconds(b *testing.B) map[string]float64 {
	out := map[string]float64{}
	for _, s := range serviceNames {
		out[s] = cpuSeconds(b, p.c.svc[s].pid())
	}
	return out
}

// paced offers `rate` petitions per second (open loop: a late answer does
// not delay the next send) and derives the latency from POST to visible
// from two curves: when the k-th petition was sent, and when statistics
// first showed k of them. Matching the k-th sent with the k-th visible is
// exact when petitions become visible in the order they were sent and a
// close estimate otherwise; the poll interval bounds the error from above.
func (p *pipeline) paced(b *testing.B, rate int) {
	p.s.byChannel = map[string]int64{}
	base := p.sent
	n := b.N
	sentAt := make([]time.Time, n)
	var mu sync.Mutex
	var sendErr error
	var wg sync.WaitGroup
	// A sample is one summary: when it was asked for and when it answered.
	// The petitions it counts became visible before the snapshot its first
	// statement took, which lies between the two; the answer time (the
	// figure reported since session 2) also counts the summary's own
	// duration — on PostgreSQL 4 ms p50, 12 ms p99 — and the ask time
	// undercounts by the time to that first snapshot, well under a
	// millisecond. Both are reported.
	type sample struct {
		asked, at           time.Time
		registered, decided int64
	}
	var samples []sample
	done := make(chan error, 1)
	poll := pollInterval
	if v := os.Getenv("XINFANG_BENCH_POLL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("XINFANG_BENCH_POLL: want a positive duration, like 5ms")
		}
		poll = d
	}
	go func() {
		for {
			asked := time.Now()
			pr, err := p.progress()
			if err != nil {
				done <- err
				return
			}
			samples = append(samples, sample{asked, time.Now(), pr.registered - int64(base), pr.decided - int64(base)})
			if ok, err := p.through(&pr, int64(base+n)); err != nil || ok {
				done <- err
				return
			}
			time.Sleep(poll)
		}
	}()
	handledBefore := p.handleTimes()
	stopProfiles := p.profile(b, fmt.Sprintf("rate=%d", rate))
	cpu := p.startCPU(b)
	b.ResetTimer()
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		mu.Lock()
		sentAt[i] = time.Now()
		mu.Unlock()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := p.c.send(1, 1, base+i, &p.s); err != nil {
				mu.Lock()
				sendErr = err
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if sendErr != nil {
		b.Fatal(sendErr)
	}
	select {
	case err := <-done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		b.Fatalf("paced run: not through after 5 minutes")
	}
	b.StopTimer()
	// At a paced rate the CPU per petition includes what the services do
	// per event rather than per batch, and statistics' share includes the
	// probe's summaries (every pollInterval).
	p.reportCPU(b, cpu, n)
	for name, after := range p.handleTimes() {
		if q := handleQuantiles("xinfang_kafka_consume_delay_seconds", handledBefore[name], after); q != "" && n > 1 {
			b.Logf("%s: waited from publication to handling %s", name, q)
		}
		if q := handleQuantiles("xinfang_kafka_consume_duration_seconds", handledBefore[name], after); q != "" && n > 1 {
			b.Logf("%s: batch handled in %s", name, q)
		}
	}
	stopProfiles()
	p.sent += n
	for _, m := range []struct {
		name string
		of   func(sample) int64
		at   func(sample) time.Time
	}{
		{"registered", func(s sample) int64 { return s.registered }, func(s sample) time.Time { return s.at }},
		{"decided", func(s sample) int64 { return s.decided }, func(s sample) time.Time { return s.at }},
		{"decided-asked", func(s sample) int64 { return s.decided }, func(s sample) time.Time { return s.asked }},
	} {
		lat := make([]time.Duration, 0, n)
		k := 0
		for _, s := range samples {
			for ; k < n && int64(k) < m.of(s); k++ {
				lat = append(lat, m.at(s).Sub(sentAt[k]))
			}
		}
		if len(lat) < n {
			b.Fatalf("%s: %d of %d petitions seen", m.name, len(lat), n)
		}
		if m.name == "decided" {
			b.Logf("decided: the slowest 1%% were sent in these seconds of the run (from %s): %s; %s",
				start.Format("15:04:05.000"), slowSeconds(lat, sentAt, start), firstSecond(lat, sentAt, start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(ms(lat[len(lat)/2]), m.name+"-p50-ms")
		b.ReportMetric(ms(lat[len(lat)*99/100]), m.name+"-p99-ms")
	}
	// What the probe's summaries took, asked to answered: its resolution,
	// and a dashboard's wait at this load.
	took := make([]time.Duration, len(samples))
	for i, s := range samples {
		took[i] = s.at.Sub(s.asked)
	}
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)/2]), "summary-p50-ms")
	b.ReportMetric(ms(took[len(took)*99/100]), "summary-p99-ms")
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "petitions/s")
	b.ReportMetric(0, "ns/op")
}

// slowSeconds counts the slowest 1% of petitions (lat[i] is petition i's
// latency) by the second of the run they were sent in: one stall shows as
// one or two seconds, a slow hop as many.
func slowSeconds(lat []time.Duration, sentAt []time.Time, start time.Time) string {
	order := make([]int, len(lat))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(lat[b], lat[a]) })
	bySecond := map[int]int{}
	for _, i := range order[:max(1, len(order)/100)] {
		bySecond[int(sentAt[i].Sub(start)/time.Second)]++
	}
	var parts []string
	for _, sec := range slices.Sorted(maps.Keys(bySecond)) {
		parts = append(parts, fmt.Sprintf("%ds×%d", sec, bySecond[sec]))
	}
	return strings.Join(parts, " ")
}

// firstSecond describes the latencies of the petitions sent in the run's
// first second, when a fresh county's connections and caches are still cold.
func firstSecond(lat []time.Duration, sentAt []time.Time, start time.Time) string {
	var first []time.Duration
	for i, d := range lat {
		if sentAt[i].Sub(start) < time.Second {
			first = append(first, d)
		}
	}
	if len(first) < 2 {
		return "the first second: too few petitions to tell"
	}
	slices.Sort(first)
	return fmt.Sprintf("the first second's %d: p50 %.1f ms, max %.1f ms", len(first), ms(first[len(first)/2]), ms(first[len(first)-1]))
}

// pollInterval is how often the paced runs read statistics' summary; it is
// the resolution of the latency figures. A summary costs statistics and its
// database 1.7–2.7 ms on PostgreSQL: polled every 2 ms, the probe itself
// took a core and put hundreds of milliseconds on the p99 it measured.
// XINFANG_BENCH_POLL overrides it, to see what the probe costs.
const pollInterval = 5 * time.Millisecond

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
