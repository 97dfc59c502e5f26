package alertmanager

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corrd/corrd/ingest"
)

const kind = "alertmanager"

// The HTTP codes a Receiver answers with; their request counters exist
// from the start so that rates over them are defined.
var answerCodes = [...]int{
	http.StatusOK,
	http.StatusBadRequest,
	http.StatusUnauthorized,
	http.StatusMethodNotAllowed,
	http.StatusRequestEntityTooLarge,
	http.StatusUnsupportedMediaType,
	http.StatusInternalServerError,
	http.StatusServiceUnavailable,
}

// The reasons of ingest.Metrics.Rejected this package uses.
const (
	reasonMethod      = "method_not_allowed"
	reasonMediaType   = "unsupported_media_type"
	reasonAuth        = "unauthorized"
	reasonTooLarge    = "too_large"
	reasonRead        = "read_error"
	reasonJSON        = "invalid_json"
	reasonVersion     = "bad_version"
	reasonNoAlerts    = "no_alerts"
	reasonNoLabels    = "no_labels"
	reasonLabelName   = "invalid_label"
	reasonBatchSize   = "batch_too_large"
	reasonStatus      = "bad_status"
	reasonTime        = "bad_time"
	reasonBackpress   = "backpressure"
	reasonCanceled    = "canceled"
	reasonSubmitError = "submit_error"
)

var reasons = [...]string{
	reasonMethod, reasonMediaType, reasonAuth, reasonTooLarge, reasonRead,
	reasonJSON, reasonVersion, reasonNoAlerts, reasonNoLabels, reasonStatus,
	reasonTime, reasonBackpress, reasonCanceled, reasonSubmitError,
	reasonLabelName, reasonBatchSize,
}

// metrics are one Receiver's metrics, curried with its source name.
type metrics struct {
	requestsVec     *prometheus.CounterVec // curried with the source
	requests        map[int]prometheus.Counter
	duration        prometheus.Observer
	alerts          prometheus.Observer
	unknownSeverity prometheus.Counter
	truncated       prometheus.Counter
	received        prometheus.Counter
	rejected        map[string]prometheus.Counter
}

// newMetrics registers the package's metrics with reg (nil: not
// registered). Receivers of several names, or an old and a new one during a
// reload, share the collectors already registered.
func newMetrics(reg prometheus.Registerer, name string, m *ingest.Metrics) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corrd_ingest_alertmanager_requests_total",
		Help: "Alertmanager webhook requests, by HTTP status code answered.",
	}, []string{"source", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "corrd_ingest_alertmanager_request_duration_seconds",
		Help:    "Time to answer an Alertmanager webhook request.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"source"})
	alerts := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "corrd_ingest_alertmanager_alerts_per_request",
		Help:    "Alerts in an accepted Alertmanager webhook request.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
	}, []string{"source"})
	unknownSeverity := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corrd_ingest_alertmanager_unknown_severity_total",
		Help: "Accepted alerts whose severity label has a value corrd does not know; they get severity unknown.",
	}, []string{"source"})
	truncated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "corrd_ingest_alertmanager_truncated_alerts_total",
		Help: "Alerts Alertmanager left out of accepted requests (its max_alerts), as it reports in truncatedAlerts.",
	}, []string{"source"})

	if reg != nil {
		var err error
		if requests, err = register(reg, requests); err != nil {
			return nil, err
		}
		if duration, err = register(reg, duration); err != nil {
			return nil, err
		}
		if alerts, err = register(reg, alerts); err != nil {
			return nil, err
		}
		if unknownSeverity, err = register(reg, unknownSeverity); err != nil {
			return nil, err
		}
		if truncated, err = register(reg, truncated); err != nil {
			return nil, err
		}
	}

	mt := &metrics{
		requestsVec:     requests.MustCurryWith(prometheus.Labels{"source": name}),
		requests:        make(map[int]prometheus.Counter, len(answerCodes)),
		duration:        duration.WithLabelValues(name),
		alerts:          alerts.WithLabelValues(name),
		unknownSeverity: unknownSeverity.WithLabelValues(name),
		truncated:       truncated.WithLabelValues(name),
		received:        m.Received.WithLabelValues(name, kind),
		rejected:        make(map[string]prometheus.Counter, len(reasons)),
	}
	for _, c := range answerCodes {
		mt.requests[c] = mt.requestsVec.WithLabelValues(strconv.Itoa(c))
	}
	for _, r := range reasons {
		mt.rejected[r] = m.Rejected.WithLabelValues(name, kind, r)
	}
	return mt, nil
}

// request returns the request counter of an HTTP code.
func (m *metrics) request(code int) prometheus.Counter {
	if c, ok := m.requests[code]; ok {
		return c
	}
	return m.requestsVec.WithLabelValues(strconv.Itoa(code))
}

// register registers c, or returns the equal collector registered before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, err
}
