package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// handleTimes snapshots every service's metrics for the consumers'
// histograms — xinfang_kafka_consume_duration_seconds (per message, how
// long its batch took to apply and commit) and
// xinfang_kafka_consume_delay_seconds (from its publication to the start
// of its handling) — so that a paced run can report where in the pipeline
// its tail was spent.
func (p *pipeline) handleTimes() map[string]samples {
	out := map[string]samples{}
	for _, s := range serviceNames {
		if m, err := scrape(context.Background(), p.c.url[s]+"/metrics"); err == nil {
			out[s] = m
		}
	}
	return out
}

// handleQuantiles is, per consumer group and topic, the p50 and p99 of
// one of those histograms over the messages handled between two snapshots,
// read from the buckets (so to within a bucket's width, a factor of two).
func handleQuantiles(histogram string, before, after samples) string {
	bucket := histogram + "_bucket{"
	type bound struct {
		le    float64
		count float64
	}
	series := map[string][]bound{}
	for k, v := range after {
		labels, ok := strings.CutPrefix(k, bucket)
		if !ok {
			continue
		}
		i := strings.Index(labels, `le="`)
		if i < 0 {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(labels[i+4:], `"}`), 64)
		if err != nil {
			continue // +Inf
		}
		name := strings.TrimSuffix(labels[:i], ",")
		series[name] = append(series[name], bound{le, v - before[k]})
	}
	var out []string
	for name, bs := range series {
		sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
		total := bs[len(bs)-1].count
		if total < 1 {
			continue
		}
		at := func(q float64) string {
			for _, b := range bs {
				if b.count >= q*total {
					return fmt.Sprintf("≤%gms", b.le*1000)
				}
			}
			return ">" + fmt.Sprintf("%gms", bs[len(bs)-1].le*1000)
		}
		out = append(out, fmt.Sprintf("%s n=%.0f p50 %s p99 %s", name, total, at(0.5), at(0.99)))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
