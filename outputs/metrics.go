package outputs

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	depth      *prometheus.GaugeVec
	routed     *prometheus.CounterVec
	unrouted   prometheus.Counter
	dropped    *prometheus.CounterVec
	// deadLetters is the number kept; deadDiscarded those let go when full.
	deadLetters   *prometheus.GaugeVec
	deadDiscarded *prometheus.CounterVec
	// deadStoreErrors counts failed Store writes of dead letters, by op.
	deadStoreErrors *prometheus.CounterVec
	attempts        *prometheus.CounterVec
	coalesced       *prometheus.CounterVec
	unsupported     *prometheus.CounterVec
	queueAge        *queueAgeCollector
}

// newMetrics registers the outputs metrics with reg (none when nil). When a
// previous Dispatcher on the same registry registered them (a config
// reload), its collectors are shared.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_deliveries_total",
			Help: "Delivery outcomes by sink: success; retry (an attempt failed and will be retried); failed (after a permanent error or the last retry the change became a dead letter).",
		}, []string{"sink", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corrd_outputs_delivery_duration_seconds",
			Help:    "Duration of one delivery attempt, by sink.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corrd_outputs_queue_depth",
			Help: "Changes waiting for delivery, the one in delivery included, by sink.",
		}, []string{"sink"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_changes_routed_total",
			Help: "Changes queued for a sink.",
		}, []string{"sink"}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_outputs_changes_unrouted_total",
			Help: "Changes that matched no route.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_changes_dropped_total",
			Help: "Changes discarded without a finished delivery: published after shutdown began, or still queued when the shutdown deadline passed.",
		}, []string{"sink"}),
		deadLetters: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corrd_outputs_dead_letters",
			Help: "Changes kept as dead letters (refused for good or given up on), by sink.",
		}, []string{"sink"}),
		deadDiscarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_dead_letters_discarded_total",
			Help: "Dead letters let go because the list was full, by sink.",
		}, []string{"sink"}),
		deadStoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_dead_letter_store_errors_total",
			Help: "Failed writes of dead letters to the state store, by operation (put, delete). A dead letter that could not be put is kept in memory only.",
		}, []string{"op"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_delivery_attempts_total",
			Help: "Delivery attempts (calls to the sink), retries included, by sink.",
		}, []string{"sink"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_changes_coalesced_total",
			Help: "Queued updates replaced by a newer update of the same incident before delivery, by sink.",
		}, []string{"sink"}),
		unsupported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_outputs_changes_unsupported_total",
			Help: "Changes routed to a sink that does not carry out their operation (see Operator), not given to it, by sink.",
		}, []string{"sink"}),
		queueAge: &queueAgeCollector{desc: prometheus.NewDesc(
			"corrd_outputs_queue_oldest_age_seconds",
			"Age of the oldest change waiting for delivery (by the time of the change), the one in delivery included, by sink; 0 when the queue is empty.",
			[]string{"sink"}, nil)},
	}
	var errs []error
	m.deadStoreErrors = register(reg, m.deadStoreErrors, &errs)
	m.attempts = register(reg, m.attempts, &errs)
	m.coalesced = register(reg, m.coalesced, &errs)
	m.unsupported = register(reg, m.unsupported, &errs)
	m.queueAge = register(reg, m.queueAge, &errs)
	m.deadLetters = register(reg, m.deadLetters, &errs)
	m.deadDiscarded = register(reg, m.deadDiscarded, &errs)
	m.deliveries = register(reg, m.deliveries, &errs)
	m.duration = register(reg, m.duration, &errs)
	m.depth = register(reg, m.depth, &errs)
	m.routed = register(reg, m.routed, &errs)
	m.unrouted = register(reg, m.unrouted, &errs)
	m.dropped = register(reg, m.dropped, &errs)
	return m, errors.Join(errs...)
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C, errs *[]error) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		*errs = append(*errs, err)
	}
	return c
}

// sinkMetrics are one sink's children of the metrics.
type sinkMetrics struct {
	success, retry, failed prometheus.Counter
	duration               prometheus.Observer
	depth                  prometheus.Gauge
	routed, dropped        prometheus.Counter
	attempts, coalesced    prometheus.Counter
	unsupported            prometheus.Counter
}

func (m *metrics) forSink(name string) sinkMetrics {
	return sinkMetrics{
		success:     m.deliveries.WithLabelValues(name, "success"),
		retry:       m.deliveries.WithLabelValues(name, "retry"),
		failed:      m.deliveries.WithLabelValues(name, "failed"),
		duration:    m.duration.WithLabelValues(name),
		depth:       m.depth.WithLabelValues(name),
		routed:      m.routed.WithLabelValues(name),
		dropped:     m.dropped.WithLabelValues(name),
		attempts:    m.attempts.WithLabelValues(name),
		coalesced:   m.coalesced.WithLabelValues(name),
		unsupported: m.unsupported.WithLabelValues(name),
	}
}

// queueAgeCollector reports the age of each queue's oldest change at
// scrape time. A Dispatcher built on a registry that already holds one (a
// config reload) takes it over: the collector reports the latest
// Dispatcher's queues.
type queueAgeCollector struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	queues []*queue
}

func (c *queueAgeCollector) set(qs []*queue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queues = qs
}

// Describe implements prometheus.Collector.
func (c *queueAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *queueAgeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	qs := c.queues
	c.mu.Unlock()
	now := time.Now()
	for _, q := range qs {
		var age float64
		if at, ok := q.oldest(); ok {
			age = max(now.Sub(at).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, age, q.sink.Name())
	}
}
