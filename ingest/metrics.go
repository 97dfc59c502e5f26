package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters every source shares. Build one per registry in
// cmd and hand it to each source.
type Metrics struct {
	// Received counts events produced by a source, by source name and kind.
	Received *prometheus.CounterVec
	// Rejected counts inputs a source refused, by source name, kind and a
	// short reason (invalid_json, too_large, bad_status, backpressure...).
	Rejected *prometheus.CounterVec
}

// NewMetrics registers the shared ingest metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_ingest_events_received_total",
			Help: "Events produced by a source and offered to the correlator.",
		}, []string{"source", "kind"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_ingest_events_rejected_total",
			Help: "Inputs a source refused, by reason.",
		}, []string{"source", "kind", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.Received, m.Rejected)
	}
	return m
}
