package main

// The SNMP trap listeners: config type, validation and source builder.

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/ingest/snmptrap"
)

type snmptrapConfig = snmptrap.Config

// validateSNMPTrap checks the `ingest.snmptrap` listeners.
func validateSNMPTrap(cs []snmptrapConfig) error {
	return snmptrap.ValidateAll("ingest.snmptrap", cs)
}

// newSNMPTrapSources opens one listener per `ingest.snmptrap` entry.
func newSNMPTrapSources(cfg *IngestConfig, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) ([]ingest.Source, error) {
	return openEach(cfg.SNMPTrap, func(c snmptrap.Config) (*snmptrap.Listener, error) {
		return snmptrap.New(c, m, reg, log)
	})
}
