package main

// The syslog listeners: config type, validation and source builder.

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/ingest/syslog"
)

type syslogConfig = syslog.Config

// validateSyslog checks the `ingest.syslog` listeners.
func validateSyslog(cs []syslogConfig) error {
	return syslog.ValidateAll("ingest.syslog", cs)
}

// newSyslogSources opens one listener per `ingest.syslog` entry.
func newSyslogSources(cfg *IngestConfig, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) ([]ingest.Source, error) {
	return openEach(cfg.Syslog, func(c syslog.Config) (*syslog.Listener, error) {
		return syslog.New(c, m, reg, log)
	})
}
