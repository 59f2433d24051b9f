package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCountyFootprint measures what one idle county costs: each
// service's start-to-ready time (a restart on its existing database, as a
// rescheduled pod would), then its resident memory and CPU while idle —
// connected to the broker, consumer groups joined, timers armed — and the
// sum over the four services. The figures decide how many counties fit a
// node.
func BenchmarkCountyFootprint(b *testing.B) {
	c := startCountyWith(b, countyOptions{sqlite: true, brokers: os.Getenv("XINFANG_TEST_BROKERS")})
	settle, err := time.ParseDuration(envOr("XINFANG_BENCH_IDLE_SETTLE", "5s"))
	if err != nil {
		b.Fatal(err)
	}
	window, err := time.ParseDuration(envOr("XINFANG_BENCH_IDLE_WINDOW", "10s"))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range serviceNames {
			p := c.svc[s]
			p.stop(b)
			start := time.Now()
			p.start(b)
			waitReady(b, s, c.url[s]+"/readyz", 60*time.Second)
			b.ReportMetric(ms(time.Since(start)), s+"-ready-ms")
		}
	}
	b.StopTimer()
	time.Sleep(settle)
	before := map[string]float64{}
	for _, s := range serviceNames {
		before[s] = cpuSeconds(b, c.svc[s].pid())
	}
	// What the idle county costs its Kafka: the broker's CPU over the same
	// window (its own, when the benchmark started it; nothing else uses it).
	var broker0 float64
	if c.broker != nil {
		broker0 = cpuSeconds(b, c.broker.Pid())
	}
	time.Sleep(window)
	if c.broker != nil {
		b.ReportMetric((cpuSeconds(b, c.broker.Pid())-broker0)/window.Seconds()*100, "broker-cpu-%")
	}
	var rss, anon, cpu float64
	for _, s := range serviceNames {
		pid := c.svc[s].pid()
		r := statusKiB(b, pid, "VmRSS") / 1024
		// The rest of RSS is the binary's code and read-only data, mapped
		// from the image's file: the page cache shares it between every
		// county's pods of that service on a node, so the anonymous part is
		// what one more county costs.
		a := statusKiB(b, pid, "RssAnon") / 1024
		u := (cpuSeconds(b, pid) - before[s]) / window.Seconds() * 100
		rss += r
		anon += a
		cpu += u
		b.ReportMetric(r, s+"-rss-MiB")
		b.ReportMetric(a, s+"-anon-MiB")
		b.ReportMetric(u, s+"-cpu-%")
	}
	// And its database: every outbox relay pass reads the outbox. Counted
	// over a window of its own, after memory was read: a scrape of /metrics
	// allocates, and its garbage would be counted as the service's RSS.
	passes := func() float64 {
		var n float64
		for _, s := range serviceNames {
			m, err := scrape(b.Context(), c.url[s]+"/metrics")
			if err != nil {
				b.Fatalf("%s metrics: %v", s, err)
			}
			n += m.sum("xinfang_outbox_relay_passes_total")
		}
		return n
	}
	passes0 := passes()
	time.Sleep(window)
	b.ReportMetric((passes()-passes0)/window.Seconds(), "relay-passes/s")
	b.ReportMetric(rss, "county-rss-MiB")
	b.ReportMetric(anon, "county-anon-MiB")
	b.ReportMetric(cpu, "county-cpu-%")
	b.ReportMetric(0, "ns/op")
}

// statusKiB reads a "kB" field of /proc/PID/status.
func statusKiB(b *testing.B, pid int, field string) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == field {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
	}
	b.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// cpuSeconds is the process's user + system CPU time from /proc/PID/stat.
func cpuSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at ") ".
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks
}
