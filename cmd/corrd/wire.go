package main

// The calls into the source, output and rule-loading packages, in one place.

import (
	"context"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/ingest/alertmanager"
	"github.com/corrd/corrd/outputs"
	"github.com/corrd/corrd/rules"
)

type (
	alertmanagerConfig = alertmanager.Config
	outputsConfig      = outputs.Config
)

// dispatcher is what the daemon needs of the outputs: it takes the
// engine's changes, runs its deliveries until its context ends, and Close
// flushes the queued ones.
type dispatcher interface {
	correlator.Publisher
	deadLetterStore
	// SetOutbox, LoadDeadLetters and Resume connect the outputs to the
	// state store: sinks report the changes they finished, dead letters
	// are kept, and what the previous run left undelivered goes out again.
	SetOutbox(o outputs.Outbox)
	LoadDeadLetters() error
	Resume(change correlator.Change, done []string)
	Run(ctx context.Context) error
	Close(ctx context.Context) error
}

// deadLetterStore is what the API does with dead letters.
type deadLetterStore interface {
	DeadLetters() []outputs.DeadLetter
	RetryDeadLetter(id string) error
	DeleteDeadLetter(id string) error
}

var _ dispatcher = (*outputs.Dispatcher)(nil)

func newDispatcher(cfg outputsConfig, reg prometheus.Registerer, log zerolog.Logger, st outputs.Store) (dispatcher, error) {
	var opts []outputs.Option
	if st != nil {
		opts = append(opts, outputs.WithStore(st))
	}
	d, err := outputs.New(cfg, reg, log, opts...)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// receiver is an HTTP event source mounted on the web server.
type receiver struct {
	path    string
	handler http.Handler
}

func newAlertmanagerReceiver(cfg alertmanagerConfig, sub ingest.Submitter, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) (receiver, error) {
	r, err := alertmanager.New("alertmanager", cfg, sub, m, reg, log)
	if err != nil {
		return receiver{}, err
	}
	return receiver{path: r.Path(), handler: r}, nil
}

// loadRules loads and compiles rule files: OS paths, or paths in src.fsys.
func loadRules(src source, paths []string, m rules.Matrix) (*rules.Set, error) {
	if src.fsys != nil {
		return rules.LoadFS(src.fsys, paths, m)
	}
	return rules.Load(paths, m)
}

// sourceBuilder builds the listener sources (syslog, SNMP traps) one section
// of the ingest config asks for. Builders open their sockets, so that a bad
// address fails at start; the daemon runs the sources.
type sourceBuilder func(cfg *IngestConfig, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) ([]ingest.Source, error)

// sourceBuilders are the listener kinds, in start order.
var sourceBuilders = []sourceBuilder{newSNMPTrapSources, newSyslogSources}

// buildSources builds every configured listener source. On error the ones
// already built are closed.
func buildSources(cfg *IngestConfig, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) ([]ingest.Source, error) {
	var out []ingest.Source
	for _, b := range sourceBuilders {
		srcs, err := b(cfg, m, reg, log)
		if err != nil {
			closeSources(out)
			return nil, err
		}
		out = append(out, srcs...)
	}
	return out, nil
}

// openEach opens one source per listener config; on an error it closes
// the ones already open.
func openEach[C any, S ingest.Source](cs []C, open func(C) (S, error)) ([]ingest.Source, error) {
	var out []ingest.Source
	for _, c := range cs {
		src, err := open(c)
		if err != nil {
			closeSources(out)
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// closeSources releases sources that were built but will not run.
func closeSources(srcs []ingest.Source) {
	for _, s := range srcs {
		if c, ok := s.(io.Closer); ok {
			_ = c.Close()
		}
	}
}
