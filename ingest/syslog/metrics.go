package syslog

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corrd/corrd/ingest"
)

// The reasons of corrd_ingest_syslog_dropped_total (and of the shared
// ingest.Metrics.Rejected, but for unmatched, which is a filter).
const (
	dropBackpressure = "backpressure" // UDP: the correlator's queue was full
	dropTooLarge     = "too_large"    // a datagram or frame over max_message_bytes
	dropMalformed    = "malformed"    // did not parse, and malformed: drop
	dropUnmatched    = "unmatched"    // no rule matched, and unmatched: drop
	dropSubmitError  = "submit_error" // the correlator failed otherwise
	dropShutdown     = "shutdown"     // corrd stopped with the message in hand
)

var dropReasons = [...]string{dropBackpressure, dropTooLarge, dropMalformed, dropUnmatched, dropSubmitError, dropShutdown}

// The reasons of corrd_ingest_syslog_connections_closed_total.
const (
	closeEOF        = "eof"
	closeIdle       = "idle_timeout"
	closeBadFrame   = "bad_frame"
	closeReadError  = "read_error"
	closeTLS        = "tls_handshake"
	closeTooMany    = "too_many_connections"
	closeTooManySrc = "too_many_from_source" // over max_connections_per_source
	closeShutdownTC = "shutdown"
)

var closeReasons = [...]string{closeEOF, closeIdle, closeBadFrame, closeReadError, closeTLS, closeTooMany, closeTooManySrc, closeShutdownTC}

// metrics are one listener's metrics, curried with its name.
type metrics struct {
	messages, bytes, parseErrors, unmatched, emitted prometheus.Counter
	invalidUTF8                                      prometheus.Counter
	dropped                                          map[string]prometheus.Counter
	rejected                                         map[string]prometheus.Counter
	received                                         prometheus.Counter
	connections                                      prometheus.Gauge
	closed                                           map[string]prometheus.Counter
	kernel                                           *kernelDrops
}

type vecs struct {
	messages, bytes, parseErrors, unmatched, emitted *prometheus.CounterVec
	invalidUTF8                                      *prometheus.CounterVec
	dropped, closed                                  *prometheus.CounterVec
	connections                                      *prometheus.GaugeVec
}

func newVecs() *vecs {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corrd_ingest_syslog_" + name, Help: help}, append([]string{"source"}, labels...))
	}
	return &vecs{
		messages:    c("messages_received_total", "Syslog messages (datagrams or frames) received."),
		bytes:       c("received_bytes_total", "Bytes of syslog messages received."),
		parseErrors: c("parse_errors_total", "Messages the parser reported an error for: malformed ones (no valid PRI) and partial ones (header fields after an error lost)."),
		unmatched:   c("unmatched_total", "Parsed messages no extraction rule matched."),
		emitted:     c("events_emitted_total", "Events the correlator accepted."),
		invalidUTF8: c("invalid_utf8_total", "Parsed messages with fields that were not valid UTF-8; the invalid bytes were replaced by U+FFFD, as label and annotation values must be UTF-8."),
		dropped:     c("dropped_total", "Messages or events corrd lost, by reason.", "reason"),
		closed:      c("connections_closed_total", "TCP/TLS connections closed, by reason.", "reason"),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corrd_ingest_syslog_connections",
			Help: "Active TCP/TLS connections.",
		}, []string{"source"}),
	}
}

// newMetrics registers the package's metrics with reg (nil: not
// registered). Listeners of several names, or an old and a new one of the
// same name, share the collectors already registered.
func newMetrics(reg prometheus.Registerer, name string, m *ingest.Metrics) (*metrics, error) {
	v := newVecs()
	// One kernel drops collector per registry, shared by its listeners.
	kd := newKernelDrops()
	if reg != nil {
		var err error
		for _, p := range []**prometheus.CounterVec{&v.messages, &v.bytes, &v.parseErrors, &v.unmatched, &v.emitted, &v.invalidUTF8, &v.dropped, &v.closed} {
			if *p, err = register(reg, *p); err != nil {
				return nil, err
			}
		}
		if v.connections, err = register(reg, v.connections); err != nil {
			return nil, err
		}
		if kd, err = register(reg, kd); err != nil {
			return nil, err
		}
	}
	mt := &metrics{
		messages:    v.messages.WithLabelValues(name),
		bytes:       v.bytes.WithLabelValues(name),
		parseErrors: v.parseErrors.WithLabelValues(name),
		unmatched:   v.unmatched.WithLabelValues(name),
		emitted:     v.emitted.WithLabelValues(name),
		invalidUTF8: v.invalidUTF8.WithLabelValues(name),
		received:    m.Received.WithLabelValues(name, kind),
		connections: v.connections.WithLabelValues(name),
		dropped:     make(map[string]prometheus.Counter, len(dropReasons)),
		rejected:    make(map[string]prometheus.Counter, len(dropReasons)),
		closed:      make(map[string]prometheus.Counter, len(closeReasons)),
		kernel:      kd,
	}
	for _, r := range dropReasons {
		mt.dropped[r] = v.dropped.WithLabelValues(name, r)
		if r != dropUnmatched {
			mt.rejected[r] = m.Rejected.WithLabelValues(name, kind, r)
		}
	}
	for _, r := range closeReasons {
		mt.closed[r] = v.closed.WithLabelValues(name, r)
	}
	return mt, nil
}

// drop counts n messages lost for reason.
func (m *metrics) drop(reason string, n int) {
	if n <= 0 {
		return
	}
	m.dropped[reason].Add(float64(n))
	if c := m.rejected[reason]; c != nil {
		c.Add(float64(n))
	}
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
