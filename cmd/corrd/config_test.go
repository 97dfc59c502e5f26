package main

import (
	"strings"
	"testing"
	"time"

	"github.com/corrd/corrd/rules"
)

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if got, want := cfg.Web.ListenAddress, "127.0.0.1:9480"; got != want {
		t.Errorf("listen address %q, want %q", got, want)
	}
	if got, want := time.Duration(cfg.Web.ReadTimeout), 30*time.Second; got != want {
		t.Errorf("read timeout %s, want %s", got, want)
	}
	if cfg.Ingest.Alertmanager == nil {
		t.Error("alertmanager receiver disabled by default")
	}
	if cfg.Priority == nil || len(cfg.Priority.Impacts) != len(rules.DefaultMatrix().Impacts) {
		t.Errorf("priority %+v, want the default matrix", cfg.Priority)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig([]byte(`
web:
  listen_address: 0.0.0.0:1234
  read_timeout: 1m
ingest:
  alertmanager: null
correlator:
  shards: 2
  dedup_window: 10m
rule_files: [a.yml, "rules/*.yml"]
priority:
  impacts: [one]
  urgencies: [now]
  priorities: {one: [1]}
  default_impact: one
  default_urgency: now
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Web.ListenAddress != "0.0.0.0:1234" || time.Duration(cfg.Web.ReadTimeout) != time.Minute {
		t.Errorf("web %+v", cfg.Web)
	}
	if cfg.Ingest.Alertmanager != nil {
		t.Error("alertmanager: null did not disable the receiver")
	}
	if cfg.Correlator.Shards != 2 || time.Duration(cfg.Correlator.DedupWindow) != 10*time.Minute {
		t.Errorf("correlator %+v", cfg.Correlator)
	}
	if got := strings.Join(cfg.RuleFiles, ","); got != "a.yml,rules/*.yml" {
		t.Errorf("rule files %s", got)
	}
	// The matrix replaces the default as a whole.
	if got := cfg.Priority.Priority("one", "now"); got != 1 {
		t.Errorf("priority %d, want 1", got)
	}
	if _, ok := cfg.Priority.Priorities["low"]; ok {
		t.Error("default matrix rows leaked into the configured matrix")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string // every error, in order
	}{
		{
			name: "unknown top-level field",
			yaml: "webb: {}\n",
			want: []string{"webb: unknown field (line 1)"},
		},
		{
			name: "unknown nested fields",
			yaml: "web:\n  listen_adress: 1.2.3.4:5\ncorrelator:\n  shard: 1\n",
			want: []string{
				"web.listen_adress: unknown field (line 2)",
				"correlator.shard: unknown field (line 4)",
			},
		},
		{
			name: "wrong types",
			yaml: "correlator:\n  shards: many\nrule_files: a.yml\n",
			want: []string{
				"correlator.shards: cannot unmarshal !!str `many` into int (line 2)",
				"rule_files: cannot unmarshal !!str `a.yml` into []string (line 3)",
			},
		},
		{
			name: "bad duration",
			yaml: "web:\n  read_timeout: soon\n",
			want: []string{`web.read_timeout: invalid duration "soon" (line 2)`},
		},
		{
			// fastcache would silently raise it to 32 MiB.
			name: "dedup cache below its minimum",
			yaml: "correlator:\n  dedup_cache_bytes: 1048576\n",
			want: []string{"correlator.dedup_cache_bytes: must be 0 (default) or at least 33554432 (32 MiB, the dedup cache's minimum), got 1048576"},
		},
		{
			name: "two documents",
			yaml: "web: {}\n---\nweb: {}\n",
			want: []string{"more than one YAML document"},
		},
		{
			name: "invalid values",
			yaml: `
web:
  listen_address: localhost
  read_timeout: 0s
ingest:
  alertmanager:
    path: webhook
correlator:
  shards: -1
  queue_size: -2
rule_files: [a.yml, ""]
priority:
  impacts: [low]
  urgencies: [now]
  priorities: {low: [5]}
  default_impact: low
  default_urgency: now
`,
			want: []string{
				"web.listen_address: address localhost: missing port in address",
				"web.read_timeout: must be > 0",
				`ingest.alertmanager.path: "webhook" must start with /`,
				"correlator.shards: must be >= 0",
				"correlator.queue_size: must be >= 0",
				"rule_files[1]: must not be empty",
				"priority: priorities.low[0]: priority 5 out of range 1..4",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig([]byte(tc.yaml))
			if err == nil {
				err = cfg.Validate()
			}
			var got []string
			for _, e := range flattenErrors(err) {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
