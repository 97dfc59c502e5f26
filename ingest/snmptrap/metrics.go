package snmptrap

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corrd/corrd/ingest"
)

const kind = "snmptrap"

// The reasons a packet is rejected or dropped. Authentication reasons are
// also counted in corrd_ingest_snmptrap_auth_failures_total.
const (
	reasonSource        = "source_not_allowed"
	reasonMalformed     = "malformed"
	reasonVersion       = "bad_version"
	reasonCommunity     = "bad_community"
	reasonSecModel      = "unknown_security_model"
	reasonUnknownUser   = "unknown_user"
	reasonSecLevel      = "unsupported_security_level"
	reasonDigest        = "wrong_digest"
	reasonDecrypt       = "decryption_error"
	reasonTimeWindow    = "not_in_time_window"
	reasonUnknownEngine = "unknown_engine_id"
	reasonPDU           = "not_a_notification"
	reasonUnknownTrap   = "unknown_trap"
	reasonBackpressure  = "backpressure"
	reasonSubmit        = "submit_error"
)

var reasons = [...]string{
	reasonSource, reasonMalformed, reasonVersion, reasonCommunity, reasonSecModel,
	reasonUnknownUser, reasonSecLevel, reasonDigest, reasonDecrypt, reasonTimeWindow,
	reasonUnknownEngine, reasonPDU, reasonUnknownTrap, reasonBackpressure, reasonSubmit,
}

var authReasons = map[string]bool{
	reasonCommunity: true, reasonUnknownUser: true, reasonSecLevel: true, reasonDigest: true,
	reasonDecrypt: true, reasonTimeWindow: true, reasonSecModel: true,
}

// dropReasons are the reasons counted as drops (by corrd; the kernel's
// are counted apart).
var dropReasons = map[string]bool{reasonBackpressure: true, reasonSubmit: true}

var versions = [...]string{"v1", "v2c", "v3"}

// metrics are one listener's metrics.
type metrics struct {
	packets      prometheus.Counter
	traps        map[string]prometheus.Counter // by version
	informsAcked prometheus.Counter
	discoveries  prometheus.Counter
	authFailures map[string]prometheus.Counter
	decodeErrors prometheus.Counter
	unknownTraps prometheus.Counter
	drops        map[string]prometheus.Counter // corrd reasons
	kernelDrops  prometheus.Counter
	received     prometheus.Counter
	rejected     map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, name string, m *ingest.Metrics) (*metrics, error) {
	vec := func(n, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corrd_ingest_snmptrap_" + n, Help: help},
			append([]string{"source"}, labels...))
	}
	packets := vec("packets_total", "UDP datagrams read from the listener's socket.")
	traps := vec("traps_total", "Notifications (traps and INFORMs) accepted, by SNMP version.", "version")
	informs := vec("informs_acknowledged_total", "INFORMs answered with a Response.")
	disc := vec("engine_discoveries_total", "SNMPv3 engine-ID discovery requests answered with a Report.")
	auth := vec("auth_failures_total", "Packets rejected by the security checks, by reason.", "reason")
	decode := vec("decode_errors_total", "Packets that could not be decoded.")
	unknown := vec("unknown_traps_total", "Notifications whose trap OID no definition matches.")
	drops := vec("drops_total", "Traps lost: by the kernel (socket receive buffer full) or by corrd (correlator backpressure).", "by", "reason")
	cs := []**prometheus.CounterVec{&packets, &traps, &informs, &disc, &auth, &decode, &unknown, &drops}
	if reg != nil {
		for _, c := range cs {
			if err := reg.Register(*c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, err
				}
				old, ok := are.ExistingCollector.(*prometheus.CounterVec)
				if !ok {
					return nil, err
				}
				*c = old
			}
		}
	}
	mt := &metrics{
		packets:      packets.WithLabelValues(name),
		traps:        map[string]prometheus.Counter{},
		informsAcked: informs.WithLabelValues(name),
		discoveries:  disc.WithLabelValues(name),
		authFailures: map[string]prometheus.Counter{},
		decodeErrors: decode.WithLabelValues(name),
		unknownTraps: unknown.WithLabelValues(name),
		drops:        map[string]prometheus.Counter{},
		kernelDrops:  drops.WithLabelValues(name, "kernel", "receive_buffer"),
		received:     m.Received.WithLabelValues(name, kind),
		rejected:     map[string]prometheus.Counter{},
	}
	for _, v := range versions {
		mt.traps[v] = traps.WithLabelValues(name, v)
	}
	for _, r := range reasons {
		mt.rejected[r] = m.Rejected.WithLabelValues(name, kind, r)
		if authReasons[r] {
			mt.authFailures[r] = auth.WithLabelValues(name, r)
		}
		if dropReasons[r] {
			mt.drops[r] = drops.WithLabelValues(name, "corrd", r)
		}
	}
	return mt, nil
}

// reject counts a refused packet under its reason.
func (m *metrics) reject(reason string) {
	m.rejected[reason].Inc()
	if c := m.authFailures[reason]; c != nil {
		c.Inc()
	}
	if c := m.drops[reason]; c != nil {
		c.Inc()
	}
	switch reason {
	case reasonMalformed, reasonVersion, reasonPDU:
		m.decodeErrors.Inc()
	case reasonUnknownTrap:
		m.unknownTraps.Inc()
	}
}
