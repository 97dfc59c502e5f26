package main

import (
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/rules"
)

// loadFunc loads the configuration and compiles its rules.
type loadFunc func() (*Config, *rules.Set, error)

// reloader re-reads the configuration and swaps in its rules. Only the
// rules and the priority matrix they are compiled with take effect; other
// changes are logged as needing a restart. Reloads are serialized.
type reloader struct {
	load  loadFunc
	apply func(*rules.Set)
	log   zerolog.Logger
	now   func() time.Time

	successful  prometheus.Gauge
	successTime prometheus.Gauge

	mu sync.Mutex
	// running is the configuration the daemon was started with, against
	// which non-reloadable changes are detected.
	running *Config
}

func newReloader(running *Config, load loadFunc, apply func(*rules.Set), reg prometheus.Registerer, log zerolog.Logger) *reloader {
	r := &reloader{
		load:    load,
		apply:   apply,
		log:     log,
		now:     time.Now,
		running: running,
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corrd_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corrd_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	reg.MustRegister(r.successful, r.successTime)
	// The configuration the daemon starts with counts as a successful load.
	r.markSuccess()
	return r
}

func (r *reloader) markSuccess() {
	r.successful.Set(1)
	r.successTime.Set(float64(r.now().UnixNano()) / 1e9)
}

// Reload loads the configuration and rules anew. On error the running rules
// stay in force.
func (r *reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, set, err := r.load()
	if err != nil {
		r.successful.Set(0)
		r.log.Error().Err(err).Msg("reload failed; keeping the running rules")
		return err
	}
	for _, c := range restartNeeded(r.running, cfg) {
		r.log.Warn().Str("section", c).Msg("configuration changed; restart corrd to apply it")
	}
	r.apply(set)
	r.markSuccess()
	r.log.Info().Msg("reloaded rules")
	return nil
}

// restartNeeded names the sections that differ between the running and the
// new configuration and that a reload does not apply.
func restartNeeded(running, next *Config) []string {
	var out []string
	for _, s := range []struct {
		name string
		a, b any
	}{
		{"web", running.Web, next.Web},
		{"ingest", running.Ingest, next.Ingest},
		{"correlator", running.Correlator, next.Correlator},
		{"outputs", running.Outputs, next.Outputs},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			out = append(out, s.name)
		}
	}
	return out
}
