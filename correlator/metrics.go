package correlator

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	deduplicated    *prometheus.CounterVec
	backpressure    *prometheus.CounterVec
	batchTooLarge   *prometheus.CounterVec
	absorbed        *prometheus.CounterVec
	orphans         *prometheus.CounterVec
	expired         *prometheus.CounterVec
	opened          *prometheus.CounterVec
	resolved        *prometheus.CounterVec
	closed          *prometheus.CounterVec
	open            *prometheus.GaugeVec
	signals         *prometheus.HistogramVec
	latency         prometheus.Histogram
	changes         *prometheus.CounterVec
	dedupSaveErrors prometheus.Counter
	persistErrors   prometheus.Counter

	commitSeconds     prometheus.Histogram
	commitOps         prometheus.Histogram
	commitBytes       prometheus.Counter
	commitErrors      prometheus.Counter
	recoverySeconds   prometheus.Gauge
	storedWaitAborted prometheus.Counter
	problemsDropped   prometheus.Counter
	reopened          *prometheus.CounterVec
	acked             *prometheus.CounterVec
	flapping          *prometheus.CounterVec
	withheld          *prometheus.CounterVec
	knownErrorHits    *prometheus.CounterVec
	problems          *prometheus.CounterVec
	changeMarkers     *prometheus.CounterVec
	major             *prometheus.CounterVec
	escalations       *prometheus.CounterVec
	slaWarnings       *prometheus.CounterVec
	slaBreaches       *prometheus.CounterVec
	leadTime          *prometheus.HistogramVec
	responseTime      *prometheus.HistogramVec
	waitingTime       *prometheus.HistogramVec

	silencesRefused  prometheus.Counter
	incidentsRefused *prometheus.CounterVec
	eventsShed       *prometheus.CounterVec
	openIncidents    prometheus.Gauge
	openIncidentsCap prometheus.Gauge
}

// serviceTimeBuckets span a minute to two weeks.
var serviceTimeBuckets = []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600}

func newMetrics(reg prometheus.Registerer, queued func() float64, capacity int) *metrics {
	m := &metrics{
		deduplicated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_events_deduplicated_total",
			Help: "Events folded into an existing signal inside the dedup window, by source.",
		}, []string{"source"}),
		backpressure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_events_backpressured_total",
			Help: "Events refused because the correlation queue was full, by source.",
		}, []string{"source"}),
		batchTooLarge: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_batches_too_large_total",
			Help: "Batches refused because they hold more events than the whole correlation queue (queue_size), by source.",
		}, []string{"source"}),
		absorbed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_signals_absorbed_total",
			Help: "Signals attached to an open incident of an absorbing rule, by that rule.",
		}, []string{"rule"}),
		orphans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_orphan_resolves_total",
			Help: "Resolved events for signals no incident or window holds, by rule.",
		}, []string{"rule"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_signals_below_threshold_total",
			Help: "Signals whose window ended before their rule's threshold was met, by rule.",
		}, []string{"rule"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_incidents_opened_total",
			Help: "Incidents opened, by rule and priority at opening.",
		}, []string{"rule", "priority"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_incidents_resolved_total",
			Help: "Incidents resolved, by rule and priority.",
		}, []string{"rule", "priority"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_incidents_closed_total",
			Help: "Incidents closed and forgotten, by rule.",
		}, []string{"rule"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corrd_correlator_incidents_open",
			Help: "Incidents open now, by rule.",
		}, []string{"rule"}),
		signals: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corrd_correlator_incident_signals",
			Help:    "Distinct signals per incident, observed when it resolves.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}, []string{"rule"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corrd_correlator_latency_seconds",
			Help:    "Time from an event's arrival to its correlation.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}),
		problemsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_correlator_problems_dropped_total",
			Help: "Problems not raised because 10,000 unresolved problems are kept already.",
		}),
		persistErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_correlator_persist_errors_total",
			Help: "Failed writes of silences, known errors, change records or problems to the state store.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corrd_store_commit_duration_seconds",
			Help:    "Time to write and sync one group commit of incident state and outbox to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		commitOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corrd_store_commit_records",
			Help:    "Records (groups, changes, delivery reports) written per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		commitBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_store_commit_bytes_total",
			Help: "Bytes of keys and values written by group commits.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_store_commit_errors_total",
			Help: "Group commits the store refused; the batch is held and retried, sources get 503 meanwhile.",
		}),
		recoverySeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corrd_store_recovery_seconds",
			Help: "Time the start took to load incidents, timers and outbox from the store.",
		}),
		storedWaitAborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_store_commit_wait_aborted_total",
			Help: "Submissions whose sender gave up before their batch was committed (the sender retries).",
		}),
		dedupSaveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_correlator_dedup_save_errors_total",
			Help: "Failed saves of the dedup set to the data directory.",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_changes_total",
			Help: "Incident changes emitted, by rule and change type.",
		}, []string{"rule", "type"}),
		reopened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_incidents_reopened_total",
			Help: "Resolved incidents reopened by a new signal within reopen_within, by rule.",
		}, []string{"rule"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_incidents_acknowledged_total",
			Help: "Incidents acknowledged, by rule.",
		}, []string{"rule"}),
		changeMarkers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_change_markers_total",
			Help: "Signals recorded as change records by a change-marker rule, by rule.",
		}, []string{"rule"}),
		problems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_problems_opened_total",
			Help: "Problems raised by recurring incidents, by rule and kind (daily, recurring).",
		}, []string{"rule", "kind"}),
		knownErrorHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_known_error_hits_total",
			Help: "Incidents a known error was attached to, by the id of a rules-file known error, or \"api\" for all known errors added through the API.",
		}, []string{"known_error"}),
		withheld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_changes_withheld_total",
			Help: "Changes recorded but not forwarded (maintenance window or silence), by rule and type.",
		}, []string{"rule", "type"}),
		flapping: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_incidents_flapping_total",
			Help: "Incidents marked flapping, by rule.",
		}, []string{"rule"}),
		major: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_major_incidents_total",
			Help: "Incidents that became major (major-incident priority or an SLA breach), by rule.",
		}, []string{"rule"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_escalations_total",
			Help: "Functional escalations to the next assignment level, by service.",
		}, []string{"service"}),
		slaWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_sla_warnings_total",
			Help: "SLA clocks that reached the warning fraction, by clock and priority.",
		}, []string{"clock", "priority"}),
		slaBreaches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_sla_breaches_total",
			Help: "SLA clocks that ran out, by clock and priority.",
		}, []string{"clock", "priority"}),
		leadTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corrd_correlator_lead_time_seconds",
			Help:    "Time from opening to resolution or closing, by priority, category and end.",
			Buckets: serviceTimeBuckets,
		}, []string{"priority", "category", "until"}),
		responseTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corrd_correlator_response_time_seconds",
			Help:    "Time from opening to acknowledgement, by priority and category.",
			Buckets: serviceTimeBuckets,
		}, []string{"priority", "category"}),
		waitingTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corrd_correlator_waiting_time_seconds",
			Help:    "Time from the first signal's arrival to acknowledgement (work started), by priority and category.",
			Buckets: serviceTimeBuckets,
		}, []string{"priority", "category"}),
		silencesRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corrd_correlator_silences_refused_total",
			Help: "Silences refused because max_silences silences are active or pending.",
		}),
		incidentsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_incidents_refused_total",
			Help: "New groups refused at the open-incident cap, by rule kind (default: events no rule matched; rule: a configured rule).",
		}, []string{"rule_kind"}),
		eventsShed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corrd_correlator_events_shed_total",
			Help: "Events dropped because their new group was refused at the open-incident cap, by rule.",
		}, []string{"rule"}),
		openIncidents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corrd_correlator_open_incidents",
			Help: "Groups holding an open or resolved incident (or a pending window), over all shards: what max_open_incidents bounds.",
		}),
		openIncidentsCap: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corrd_correlator_open_incidents_limit",
			Help: "The open-incident cap (max_open_incidents): new default-rule groups are refused at it, new rule groups 10% above it.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.silencesRefused, m.incidentsRefused, m.eventsShed, m.openIncidents, m.openIncidentsCap,
			m.commitSeconds, m.commitOps, m.commitBytes, m.commitErrors, m.recoverySeconds, m.storedWaitAborted,
			m.problemsDropped, m.persistErrors, m.dedupSaveErrors, m.changeMarkers, m.problems, m.knownErrorHits, m.withheld, m.flapping, m.major, m.escalations, m.slaWarnings, m.slaBreaches, m.leadTime, m.responseTime, m.waitingTime, m.reopened, m.acked, m.deduplicated, m.backpressure, m.batchTooLarge, m.absorbed, m.orphans, m.expired,
			m.opened, m.resolved, m.closed, m.open, m.signals, m.latency, m.changes,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "corrd_correlator_queue_depth",
				Help: "Events accepted and waiting for correlation.",
			}, queued),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "corrd_correlator_queue_capacity",
				Help: "Events the correlation queue holds before it answers with backpressure.",
			}, func() float64 { return float64(capacity) }),
		)
	}
	return m
}

func prioLabel(p int) string { return strconv.Itoa(p) }
