package statistics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"xinfang.io/county"
)

// collector exports the current year's figures as gauges, computed at
// scrape time from the counters (a handful of indexed reads). Labels are
// the county and the figure id: a fixed, small set of series.
type collector struct {
	s       *service
	timeout time.Duration
	count   *prometheus.Desc
	rate    *prometheus.Desc
	backlog *prometheus.Desc
	events  *prometheus.Desc
}

// NewCollector returns the Prometheus collector of the service's figures.
func NewCollector(svc Service) prometheus.Collector {
	s := svc.(*service)
	return &collector{
		s:       s,
		timeout: 10 * time.Second,
		count: prometheus.NewDesc("xinfang_statistics_year_count",
			"Count figures of the current year to date (docs/metrics.md), by figure id.", []string{"county", "figure"}, nil),
		rate: prometheus.NewDesc("xinfang_statistics_year_rate_percent",
			"Rate figures of the current year to date in percent (docs/metrics.md); absent while the denominator is 0.", []string{"county", "figure"}, nil),
		backlog: prometheus.NewDesc("xinfang_statistics_backlog_cases",
			"Open cases past their due day (积案) now, by days past due.", []string{"county", "age"}, nil),
		events: prometheus.NewDesc("xinfang_statistics_events_total",
			"Events consumed since the process started: applied, or skipped as already applied (duplicate).", []string{"county", "outcome"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.rate
	ch <- c.backlog
	ch <- c.events
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cfg := c.s.county()
	today := c.s.today()
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(c.s.applied.Load()), cfg.ID, "applied")
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(c.s.duplicates.Load()), cfg.ID, "duplicate")
	sum, err := c.s.summary(ctx, cfg, county.NewDate(today.Year(), time.January, 1), today, today, "")
	if err != nil {
		c.s.log.Error("statistics metrics", "error", err)
		ch <- prometheus.NewInvalidMetric(c.count, err)
		return
	}
	for _, d := range countDefs {
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(sum.Counts[d.ID].Value), cfg.ID, d.ID)
	}
	for _, d := range rateDefs {
		if p := sum.Rates[d.ID].Percent; p != nil {
			ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, *p, cfg.ID, d.ID)
		}
	}
	for _, b := range sum.Backlog.Ageing {
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(b.Count), cfg.ID, b.Bucket)
	}
}
