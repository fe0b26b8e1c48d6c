package consumer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus series. They register with the
// Registerer given in Options, or with none at all.
type metrics struct {
	eventsConsumed prometheus.Counter
	eventsRejected *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	deadLetters    *prometheus.CounterVec
	lag            *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		eventsConsumed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hookrelay", Name: "events_consumed_total",
			Help: "Events taken from the events stream.",
		}),
		eventsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hookrelay", Name: "events_rejected_total",
			Help: "Events recorded as rejected, by reason.",
		}, []string{"reason"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hookrelay", Name: "deliveries_total",
			Help: "Delivery attempts by webhook and outcome (delivered, retrying, dead_lettered, breaker_open).",
		}, []string{"webhook", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hookrelay", Name: "delivery_duration_seconds",
			Help:    "Duration of HTTP delivery attempts.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"webhook"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hookrelay", Name: "dead_letters_total",
			Help: "Deliveries dead-lettered, by webhook.",
		}, []string{"webhook"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "hookrelay", Name: "consumer_lag_messages",
			Help: "Messages not yet acknowledged by a durable consumer (pending plus in flight).",
		}, []string{"consumer"}),
	}
}

// register registers the series with reg (none when nil), once r's
// webhooks are all in place.
func (m *metrics) register(reg prometheus.Registerer, r *Relay) {
	if reg == nil {
		return
	}
	reg.MustRegister(m.eventsConsumed, m.eventsRejected, m.deliveries, m.latency, m.deadLetters, m.lag,
		breakerCollector{r: r, desc: prometheus.NewDesc("hookrelay_breaker_state",
			"Circuit breaker state by webhook: 0 closed, 1 half-open, 2 open.", []string{"webhook"}, nil)})
}

// breakerCollector reads each webhook's breaker state at scrape time.
type breakerCollector struct {
	r    *Relay
	desc *prometheus.Desc
}

func (c breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.r.order {
		v := 0.0
		switch c.r.hooks[name].s.Breaker().State {
		case "half-open":
			v = 1
		case "open":
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, name)
	}
}
