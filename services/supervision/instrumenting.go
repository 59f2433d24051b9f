package supervision

import "github.com/prometheus/client_golang/prometheus"

// metrics are the supervision-specific metrics; the endpoints' RED metrics
// come from the kit's middleware.
type metrics struct {
	transitions *prometheus.CounterVec
	fired       *prometheus.CounterVec
	scans       prometheus.Counter
	lag         prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_supervision_transitions_total", Help: "Staff actions applied to cases, by action.",
		}, []string{"action"}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xinfang_supervision_timers_fired_total", Help: "Durable timers fired, by kind (reminder, overdue, escalation, lapse).",
		}, []string{"kind"}),
		scans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xinfang_supervision_timer_scans_total",
			Help: "Times the timer worker read its table for due timers and the next one: at start, when a timer is due, at Wake and at the poll interval, not for every timer stored.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "xinfang_supervision_timer_lag_seconds", Help: "How late timers fire after their due time (large after a restart while catching up).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 12),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.transitions, m.fired, m.scans, m.lag)
	}
	return m
}
