package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/rules"
)

// Config is corrd's top-level configuration file.
type Config struct {
	Web        WebConfig          `yaml:"web"`
	Ingest     IngestConfig       `yaml:"ingest"`
	Correlator correlator.Options `yaml:"correlator"`
	// RuleFiles are globs; relative ones are resolved against the
	// directory of the configuration file.
	RuleFiles []string `yaml:"rule_files"`
	// Priority replaces the default impact x urgency matrix as a whole.
	Priority *rules.Matrix `yaml:"priority"`
	Outputs  outputsConfig `yaml:"outputs"`
}

// WebConfig is the HTTP server serving the API, metrics and webhooks.
type WebConfig struct {
	ListenAddress string         `yaml:"listen_address"`
	ReadTimeout   rules.Duration `yaml:"read_timeout"`
}

// IngestConfig configures the event sources.
type IngestConfig struct {
	// Alertmanager is the webhook receiver; nil (`alertmanager: null`)
	// disables it.
	Alertmanager *alertmanagerConfig `yaml:"alertmanager"`
	// SNMPTrap are the SNMP trap listeners (docs/snmptrap.md).
	SNMPTrap []snmptrapConfig `yaml:"snmptrap"`
	// Syslog are the syslog listeners (docs/syslog.md).
	Syslog []syslogConfig `yaml:"syslog"`
}

// The defaults of the settings corrd itself owns.
const (
	defaultListenAddress = "127.0.0.1:9480"
	defaultReadTimeout   = 30 * time.Second
)

func defaultConfig() *Config {
	return &Config{
		Web: WebConfig{
			ListenAddress: defaultListenAddress,
			ReadTimeout:   rules.Duration(defaultReadTimeout),
		},
		Ingest: IngestConfig{Alertmanager: &alertmanagerConfig{}},
	}
}

// parseConfig decodes a configuration strictly (unknown fields are errors)
// over the defaults. It does not validate. When the only problems are
// unknown fields it returns them with the configuration decoded without
// them, so that validation can report the other problems in the same run.
func parseConfig(data []byte) (*Config, error) {
	cfg := defaultConfig()
	known, err := rules.DecodeStrict(data, cfg)
	if !known {
		return nil, err
	}
	if cfg.Priority == nil {
		m := rules.DefaultMatrix()
		cfg.Priority = &m
	}
	return cfg, err
}

// Validate reports every problem of the configuration, each prefixed with
// its path in the file.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Web.ListenAddress == "" {
		add("web.listen_address: must not be empty")
	} else if _, _, err := net.SplitHostPort(c.Web.ListenAddress); err != nil {
		add("web.listen_address: %w", err)
	}
	if c.Web.ReadTimeout <= 0 {
		add("web.read_timeout: must be > 0")
	}

	if am := c.Ingest.Alertmanager; am != nil {
		errs = append(errs, am.Validate("ingest.alertmanager"))
	}
	errs = append(errs, validateSNMPTrap(c.Ingest.SNMPTrap))
	errs = append(errs, validateSyslog(c.Ingest.Syslog))

	o := c.Correlator
	for _, f := range []struct {
		name string
		v    int
	}{{"shards", o.Shards}, {"queue_size", o.QueueSize}, {"dedup_cache_bytes", o.DedupCacheBytes}} {
		if f.v < 0 {
			add("correlator.%s: must be >= 0", f.name)
		}
	}
	// fastcache sizes its buckets for at least 32 MiB whatever it is asked:
	// a smaller bound would not be the bound.
	if b := o.DedupCacheBytes; b > 0 && b < correlator.DefaultDedupCacheBytes {
		add("correlator.dedup_cache_bytes: must be 0 (default) or at least %d (32 MiB, the dedup cache's minimum), got %d", correlator.DefaultDedupCacheBytes, b)
	}

	// The rules loader checks the patterns themselves.
	for i, p := range c.RuleFiles {
		if p == "" {
			add("rule_files[%d]: must not be empty", i)
		}
	}

	if c.Priority != nil {
		errs = append(errs, c.Priority.Validate("priority"))
	}
	errs = append(errs, c.Outputs.Validate("outputs"))
	return errors.Join(errs...)
}
