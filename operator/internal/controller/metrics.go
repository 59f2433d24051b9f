package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// countyMetrics are per-county reconcile metrics, next to controller-runtime's
// per-controller controller_runtime_reconcile_* series. A county's series
// are dropped when its County is gone, so cardinality follows the number of
// counties.
type countyMetrics struct {
	duration    *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	topicErrors *prometheus.CounterVec
}

func newCountyMetrics(reg prometheus.Registerer) *countyMetrics {
	m := &countyMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xinfang_operator_county_reconcile_duration_seconds",
			Help:    "Time to reconcile one County, by county.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"county"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_operator_county_reconcile_errors_total",
			Help: "Reconciles of a County that ended in an error, by county.",
		}, []string{"county"}),
		topicErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_operator_county_topic_errors_total",
			Help: "Failed attempts to provision a county's Kafka topics through the admin API, by county.",
		}, []string{"county"}),
	}
	if reg != nil {
		reg.MustRegister(m.duration, m.errors, m.topicErrors)
	}
	return m
}

var defaultMetrics = newCountyMetrics(metrics.Registry)

func (m *countyMetrics) observe(county string, d time.Duration, err error) {
	m.duration.WithLabelValues(county).Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(county).Inc()
	}
}

func (m *countyMetrics) topicError(county string) { m.topicErrors.WithLabelValues(county).Inc() }

func (m *countyMetrics) forget(county string) {
	m.duration.DeleteLabelValues(county)
	m.errors.DeleteLabelValues(county)
	m.topicErrors.DeleteLabelValues(county)
}
