package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// fakeLoader returns its next result on each call.
type fakeLoader struct {
	mu  sync.Mutex
	cfg *Config
	set *rules.Set
	err error
}

func (l *fakeLoader) load() (*Config, *rules.Set, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, nil, l.err
	}
	return l.cfg, l.set, nil
}

func TestReloadFlipsGauge(t *testing.T) {
	running, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var applied []*rules.Set
	loader := &fakeLoader{cfg: running, set: &rules.Set{}}
	var logBuf strings.Builder
	r := newReloader(running, loader.load, func(s *rules.Set) { applied = append(applied, s) }, reg, zerolog.New(&logBuf))
	clock := time.Unix(1700000000, 0)
	r.now = func() time.Time { return clock }

	if got := testutil.ToFloat64(r.successful); got != 1 {
		t.Errorf("successful after start: %v, want 1", got)
	}

	loader.err = errors.New(`rules.yml: rules[2] "store-power": window must be > 0`)
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "window must be > 0") {
		t.Fatalf("reload error %v", err)
	}
	if got := testutil.ToFloat64(r.successful); got != 0 {
		t.Errorf("successful after a failed reload: %v, want 0", got)
	}
	if len(applied) != 0 {
		t.Error("rules applied despite the error")
	}

	loader.err = nil
	next := &rules.Set{}
	loader.set = next
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(r.successful); got != 1 {
		t.Errorf("successful after a good reload: %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.successTime); got != 1700000000 {
		t.Errorf("success timestamp %v, want 1700000000", got)
	}
	if len(applied) != 1 || applied[0] != next {
		t.Errorf("applied %v, want the new set once", applied)
	}

	const want = `
# HELP corrd_config_last_reload_successful Whether the last configuration reload attempt was successful.
# TYPE corrd_config_last_reload_successful gauge
corrd_config_last_reload_successful 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "corrd_config_last_reload_successful"); err != nil {
		t.Error(err)
	}
	if strings.Contains(logBuf.String(), "restart") {
		t.Errorf("restart asked for although nothing but rules changed:\n%s", logBuf.String())
	}
}

func TestReloadLogsRestartNeeded(t *testing.T) {
	running, _ := parseConfig(nil)
	next, _ := parseConfig([]byte("web: {listen_address: '127.0.0.1:1'}\ncorrelator: {shards: 3}\npriority:\n  impacts: [x]\n  urgencies: [y]\n  priorities: {x: [1]}\n  default_impact: x\n  default_urgency: y\n"))
	if got := strings.Join(restartNeeded(running, next), ","); got != "web,correlator" {
		t.Errorf("restart needed for %q, want web,correlator (priority is reloadable)", got)
	}
	var logBuf strings.Builder
	loader := &fakeLoader{cfg: next, set: &rules.Set{}}
	r := newReloader(running, loader.load, func(*rules.Set) {}, prometheus.NewRegistry(), zerolog.New(&logBuf))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"section":"web"`, `"section":"correlator"`} {
		if !strings.Contains(logBuf.String(), s) {
			t.Errorf("log lacks %s:\n%s", s, logBuf.String())
		}
	}
}

func TestReloadsAreSerialized(t *testing.T) {
	running, _ := parseConfig(nil)
	var inFlight, overlaps atomic.Int32
	load := func() (*Config, *rules.Set, error) {
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inFlight.Add(-1)
		return running, &rules.Set{}, nil
	}
	r := newReloader(running, load, func(*rules.Set) {}, prometheus.NewRegistry(), zerolog.Nop())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_ = r.Reload()
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d overlapping reloads", n)
	}
}

// TestNoopReloadWithTLSSyslog: opening a TLS syslog listener leaves the
// running configuration as it was read, so a reload of the same file
// reports no section as needing a restart.
func TestNoopReloadWithTLSSyslog(t *testing.T) {
	pki := newSyslogPKI(t, t.TempDir())
	data := []byte(fmt.Sprintf(`
ingest:
  syslog:
    - name: secure
      protocol: tls
      address: 127.0.0.1:0
      tls: {cert_file: %q, key_file: %q}
`, pki.serverCert, pki.serverKey))
	running, err := parseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := newSyslogSources(&running.Ingest, ingest.NewMetrics(nil), nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	closeSources(srcs)
	next, err := parseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := restartNeeded(running, next); len(got) != 0 {
		t.Errorf("got sections needing a restart %v after a no-op reload, want none", got)
	}
}
