package correlator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

func loadExample(t testing.TB, name string) *rules.Set {
	t.Helper()
	set, err := rules.Load([]string{filepath.Join("..", "examples", name, "rules.yml")}, rules.DefaultMatrix())
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return set
}

func event(ls map[string]string, status ingest.Status) ingest.Event {
	l := ingest.LabelsFromMap(ls)
	return ingest.Event{Kind: "test", Source: "test", Labels: l, Fingerprint: ingest.FingerprintOf(l), Status: status}
}

// harness runs an engine inside a synctest bubble.
type harness struct {
	t      *testing.T
	e      *Engine
	rec    *recorder
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func startEngine(t *testing.T, opts Options, set *rules.Set) *harness {
	h := &harness{t: t, rec: &recorder{}, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	h.e = New(opts, set, h.rec, h.reg, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { _ = h.e.Run(ctx); close(h.done) }()
	synctest.Wait()
	return h
}

func (h *harness) submit(evs ...ingest.Event) {
	h.t.Helper()
	now := time.Now()
	for i := range evs {
		evs[i].ArrivalTime = now
	}
	if err := h.e.Submit(context.Background(), evs); err != nil {
		h.t.Fatalf("submit: %v", err)
	}
	synctest.Wait()
}

func (h *harness) advance(d time.Duration) {
	<-time.After(d)
	synctest.Wait()
}

// timerEntries counts the pending timer hints of every shard.
func (h *harness) timerEntries() int {
	n := 0
	for _, s := range h.e.shards {
		s.mu.RLock()
		n += len(s.timers)
		s.mu.RUnlock()
	}
	return n
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func countChanges(cs []Change, rule string, t ChangeType) int {
	n := 0
	for _, c := range cs {
		if c.Incident.Rule == rule && c.Type == t {
			n++
		}
	}
	return n
}

// Twelve registers of one store failing within one second are one incident,
// announced in one change.
func TestTwelveRegistersOneIncident(t *testing.T) {
	set := loadExample(t, "retail")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		defer h.stop()
		for r := 1; r <= 12; r++ {
			h.submit(event(map[string]string{"alertname": "RegisterDown", "chain": "ica", "store": "0412", "register": fmt.Sprint(r)}, ingest.StatusFiring))
			h.advance(80 * time.Millisecond)
		}
		h.advance(5 * time.Second)
		incs := h.e.Incidents(Filter{})
		if len(incs) != 1 {
			t.Fatalf("got %d incidents, want 1: %+v", len(incs), incs)
		}
		if incs[0].Rule != "store-registers" || incs[0].SignalCount != 12 {
			t.Errorf("got rule %q with %d signals, want store-registers with 12", incs[0].Rule, incs[0].SignalCount)
		}
		cs := h.rec.all()
		if len(cs) != 1 || cs[0].Type != ChangeOpened || cs[0].Incident.SignalCount != 12 {
			t.Errorf("got %d changes (first %v), want one opened change with 12 signals", len(cs), cs)
		}
		if got := cs[0].Incident.Title; got != "Store 0412 (ica): 12 registers down" {
			t.Errorf("got title %q", got)
		}
	})
}

// storeScanners is the signal of each of store s's five scanners.
func storeScanners(s int, status ingest.Status) []ingest.Event {
	var batch []ingest.Event
	for d := 0; d < 5; d++ {
		batch = append(batch, event(map[string]string{
			"alertname": "ScannerDown", "chain": "ica", "firmware": "7.1.0",
			"store": fmt.Sprintf("%04d", s), "device": fmt.Sprintf("%04d-%d", s, d),
		}, status))
	}
	return batch
}

// 200 stores x 5 devices failing within a few minutes on one firmware are one
// fleet incident with 200 children; the sink sees one change per transition.
func TestFleetOutageRollup(t *testing.T) {
	set := loadExample(t, "retail")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 4}, set)
		defer h.stop()
		// The firmware change is recorded; an unrelated one in another chain.
		if err := h.e.AddChanges([]ChangeRecord{
			{ID: "CHG-1", Title: "Self-checkout firmware 7.1.0", Start: time.Now(), Scope: map[string]string{"chain": "ica", "firmware": "7.1.0"}},
			{ID: "CHG-2", Title: "Coop POS patch", Start: time.Now(), Scope: map[string]string{"chain": "coop"}},
		}); err != nil {
			t.Fatal(err)
		}
		h.advance(4 * time.Minute)
		// Devices fail over the next 4 minutes, store after store.
		for s := 0; s < 200; s++ {
			h.submit(storeScanners(s, ingest.StatusFiring)...)
			h.advance(1200 * time.Millisecond)
		}
		h.advance(time.Minute)
		parents := h.e.Incidents(Filter{Rule: "fleet-firmware"})
		if len(parents) != 1 {
			t.Fatalf("got %d fleet incidents, want 1", len(parents))
		}
		p, _ := h.e.Incident(parents[0].ID)
		if len(p.Children) != 200 {
			t.Errorf("got %d children, want 200", len(p.Children))
		}
		if p.Breadth["store"] != 200 || p.Breadth["device"] != 1000 {
			t.Errorf("got breadth %v, want 200 stores and 1000 devices", p.Breadth)
		}
		if p.Priority != 1 {
			t.Errorf("got priority %d, want 1", p.Priority)
		}
		if len(p.Suspects) != 1 || p.Suspects[0].ChangeID != "CHG-1" || p.Suspects[0].After != "4m0s" {
			t.Errorf("got suspects %+v, want CHG-1 alone, 4m before the first signal", p.Suspects)
		}
		stores := h.e.Incidents(Filter{Rule: "store-scanners"})
		if len(stores) != 200 {
			t.Fatalf("got %d store incidents, want 200", len(stores))
		}
		for _, s := range stores {
			if s.Parent != p.ID {
				t.Fatalf("store incident %s has parent %q, want %q", s.GroupKey, s.Parent, p.ID)
			}
		}
		cs := h.rec.all()
		if n := countChanges(cs, "fleet-firmware", ChangeOpened); n != 1 {
			t.Errorf("got %d fleet opened changes, want 1", n)
		}
		if n := countChanges(cs, "store-scanners", ChangeOpened); n != 200 {
			t.Errorf("got %d store opened changes, want 200", n)
		}
		// Per signal there would be 1000 changes; per transition there are
		// far fewer: openings, one coalesced update per store (parent link),
		// and the parent's priority steps and updates.
		t.Logf("%d changes for 1000 signals (fleet: %d)", len(cs), countChanges(cs, "fleet-firmware", ChangeUpdated)+countChanges(cs, "fleet-firmware", ChangePriorityChanged))
		if len(cs) > 200*2+20 {
			t.Errorf("got %d changes for 1000 signals, want them coalesced per transition", len(cs))
		}
		// Every device recovers: all incidents resolve, the parent last.
		for s := 0; s < 200; s++ {
			h.submit(storeScanners(s, ingest.StatusResolved)...)
		}
		h.advance(time.Second)
		if open := h.e.Incidents(Filter{Status: StatusOpen}); len(open) != 0 {
			t.Errorf("got %d open incidents after recovery, want 0", len(open))
		}
		cs = h.rec.all()
		if n := countChanges(cs, "fleet-firmware", ChangeResolved); n != 1 {
			t.Errorf("got %d fleet resolved changes, want 1", n)
		}
	})
}

func TestDedupAndBelowThresholdMetrics(t *testing.T) {
	set := loadExample(t, "retail")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		defer h.stop()
		ev := event(map[string]string{"alertname": "ScannerDown", "chain": "ica", "store": "1", "device": "a"}, ingest.StatusFiring)
		for i := 0; i < 5; i++ {
			h.submit(ev)
		}
		if got := testutil.ToFloat64(h.e.m.deduplicated.WithLabelValues("test")); got != 4 {
			t.Errorf("got %v deduplicated, want 4", got)
		}
		// Two registers only: below the store threshold of 3 within 1s, so
		// they wait, then expire and are counted; the single-register rule
		// is not consulted because store-registers matched first.
		h.submit(event(map[string]string{"alertname": "RegisterDown", "chain": "ica", "store": "9", "register": "1"}, ingest.StatusFiring),
			event(map[string]string{"alertname": "RegisterDown", "chain": "ica", "store": "9", "register": "2"}, ingest.StatusFiring))
		h.advance(time.Minute)
		if got := testutil.ToFloat64(h.e.m.expired.WithLabelValues("store-registers")); got != 2 {
			t.Errorf("got %v below-threshold signals, want 2", got)
		}
		h.submit(event(map[string]string{"alertname": "Nothing", "x": "1"}, ingest.StatusResolved))
		if got := testutil.ToFloat64(h.e.m.orphans.WithLabelValues("default")); got != 1 {
			t.Errorf("got %v orphan resolves, want 1", got)
		}
		if got := testutil.ToFloat64(h.e.m.opened.WithLabelValues("store-scanners", "2")); got != 1 {
			t.Errorf("got %v store-scanners opened at priority 2, want 1", got)
		}
	})
}

// A full queue refuses the whole batch and accepts again once drained.
func TestBackpressureAllOrNothing(t *testing.T) {
	set := loadExample(t, "datacenter")
	e := New(Options{Shards: 1, QueueSize: 10}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
	if err := e.Submit(context.Background(), []ingest.Event{event(map[string]string{"a": "1"}, 0)}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("got %v before Run, want ErrNotRunning", err)
	}
	// Mark running without shard goroutines so the queue cannot drain.
	e.running = true
	batch := func(n, off int) []ingest.Event {
		var out []ingest.Event
		for i := 0; i < n; i++ {
			out = append(out, event(map[string]string{"alertname": "X", "i": fmt.Sprint(off + i)}, 0))
		}
		return out
	}
	if err := e.Submit(context.Background(), batch(8, 0)); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	if err := e.Submit(context.Background(), batch(3, 100)); !errors.Is(err, ingest.ErrBackpressure) {
		t.Fatalf("got %v, want ErrBackpressure", err)
	}
	if got := e.QueueDepth(); got != 8 {
		t.Errorf("got queue depth %d after refused batch, want 8", got)
	}
	if got := testutil.ToFloat64(e.m.backpressure.WithLabelValues("test")); got != 3 {
		t.Errorf("got %v backpressured events, want 3", got)
	}
	if err := e.Submit(context.Background(), batch(2, 200)); err != nil {
		t.Fatalf("batch that fits: %v", err)
	}
	// A batch larger than the whole queue can never be taken: it is
	// refused as too large, each time, and not counted as backpressure
	// (a sender retrying it used to add its size to that counter for ever).
	for range 2 {
		if err := e.Submit(context.Background(), batch(11, 300)); !errors.Is(err, ingest.ErrBatchTooLarge) {
			t.Fatalf("got %v for 11 events with queue_size 10, want ErrBatchTooLarge", err)
		}
	}
	if got := testutil.ToFloat64(e.m.backpressure.WithLabelValues("test")); got != 3 {
		t.Errorf("got %v backpressured events after the oversized batches, want still 3", got)
	}
	if got := testutil.ToFloat64(e.m.batchTooLarge.WithLabelValues("test")); got != 2 {
		t.Errorf("got %v oversized batches, want 2", got)
	}
	if got := e.QueueDepth(); got != 10 {
		t.Errorf("got queue depth %d, want 10", got)
	}
}

// After SetRules new events follow the new rules; open incidents keep theirs.
func TestSetRules(t *testing.T) {
	oldSet := loadExample(t, "datacenter")
	newSet := compileRules(t, "rules:\n  - name: disk-by-site\n    match: ['alertname=\"DiskFull\"']\n    group_by: [site]\n")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, oldSet)
		defer h.stop()
		h.submit(event(map[string]string{"alertname": "DiskFull", "instance": "a", "site": "s1"}, 0))
		h.e.SetRules(newSet)
		h.submit(event(map[string]string{"alertname": "DiskFull", "instance": "b", "site": "s1"}, 0))
		// The first signal, re-sent, is no duplicate under the new generation
		// but still belongs to its open incident of the old rule.
		h.submit(event(map[string]string{"alertname": "DiskFull", "instance": "a", "site": "s1"}, ingest.StatusResolved))
		byRule := map[string]Status{}
		for _, inc := range h.e.Incidents(Filter{}) {
			byRule[inc.Rule] = inc.Status
		}
		if byRule["host-resources"] != StatusOpen || byRule["disk-by-site"] != StatusOpen {
			t.Errorf("got %v, want host-resources and disk-by-site open", byRule)
		}
	})
}

// Submit from many goroutines while the API reads: run with -race.
func TestConcurrentSubmitAndRead(t *testing.T) {
	set := loadExample(t, "retail")
	rec := &recorder{}
	e := New(Options{Shards: 4}, set, rec, prometheus.NewRegistry(), zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	for !e.isRunning() {
		runtime.Gosched()
	}
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func() {
			for i := 0; i < 200; i++ {
				ev := event(map[string]string{"alertname": "ScannerDown", "chain": "c", "firmware": "1",
					"store": fmt.Sprint(i % 40), "device": fmt.Sprintf("%d-%d", w, i)}, 0)
				for {
					err := e.Submit(context.Background(), []ingest.Event{ev})
					if errors.Is(err, ingest.ErrBackpressure) {
						runtime.Gosched()
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
				if i%50 == 0 {
					_ = e.Incidents(Filter{Status: StatusOpen})
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	stores := e.Incidents(Filter{Rule: "store-scanners"})
	if len(stores) != 40 {
		t.Fatalf("got %d store incidents, want 40", len(stores))
	}
	total := 0
	for _, s := range stores {
		total += s.SignalCount
	}
	if total != 1600 {
		t.Errorf("got %d signals over all store incidents, want 1600 (none lost)", total)
	}
}

// Stopping the engine emits what group_wait and update coalescing held back.
func TestStopFlushesHeldChanges(t *testing.T) {
	set := loadExample(t, "retail")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		// store-scanners has a 10s group_wait: nothing is out yet.
		h.submit(event(map[string]string{"alertname": "ScannerDown", "chain": "ica", "store": "1", "device": "a"}, 0))
		h.advance(time.Second)
		if n := len(h.rec.all()); n != 0 {
			t.Fatalf("got %d changes inside group_wait, want 0", n)
		}
		h.stop()
		cs := h.rec.all()
		if len(cs) != 1 || cs[0].Type != ChangeOpened {
			t.Fatalf("got %v after stop, want one opened change", cs)
		}
	})
}

// The service-management measures, read back with testutil.
func TestITILMetrics(t *testing.T) {
	set := compileRules(t, `
services:
  - name: pos
    match: ['app="pos"']
    category: point-of-sale
    escalation:
      - {group: service-desk, within: 10m}
      - {group: store-support}
rules:
  - name: pos
    match: ['app="pos"']
    group_by: [store]
    impact: low
    urgency: high
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, set)
		defer h.stop()
		ev := event(map[string]string{"app": "pos", "store": "1"}, ingest.StatusFiring)
		h.submit(ev)
		// Priority 2 (24x7): response 1h, warning at 45m; escalation at 10m.
		h.advance(50 * time.Minute)
		id := h.e.Incidents(Filter{})[0].ID
		if _, err := h.e.Ack(id, "anna"); err != nil {
			t.Fatal(err)
		}
		h.advance(10 * time.Minute)
		ev.Status = ingest.StatusResolved
		h.submit(ev)
		m := h.e.m
		checks := []struct {
			name string
			got  float64
			want float64
		}{
			{"escalations", testutil.ToFloat64(m.escalations.WithLabelValues("pos")), 1},
			{"response warnings", testutil.ToFloat64(m.slaWarnings.WithLabelValues("response", "2")), 1},
			{"response breaches (acked first)", testutil.ToFloat64(m.slaBreaches.WithLabelValues("response", "2")), 0},
			{"acknowledged", testutil.ToFloat64(m.acked.WithLabelValues("pos")), 1},
			{"major", testutil.ToFloat64(m.major.WithLabelValues("pos")), 0},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
			}
		}
		if n := testutil.CollectAndCount(m.responseTime, "corrd_correlator_response_time_seconds"); n != 1 {
			t.Errorf("got %d response time series, want 1", n)
		}
		if n := testutil.CollectAndCount(m.leadTime, "corrd_correlator_lead_time_seconds"); n != 1 {
			t.Errorf("got %d lead time series, want 1 (resolved)", n)
		}
		want := `
# HELP corrd_correlator_response_time_seconds Time from opening to acknowledgement, by priority and category.
# TYPE corrd_correlator_response_time_seconds histogram
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="60"} 0
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="300"} 0
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="900"} 0
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="1800"} 0
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="3600"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="7200"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="14400"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="28800"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="57600"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="86400"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="172800"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="345600"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="604800"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="1.2096e+06"} 1
corrd_correlator_response_time_seconds_bucket{category="point-of-sale",priority="2",le="+Inf"} 1
corrd_correlator_response_time_seconds_sum{category="point-of-sale",priority="2"} 3000
corrd_correlator_response_time_seconds_count{category="point-of-sale",priority="2"} 1
`
		if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "corrd_correlator_response_time_seconds"); err != nil {
			t.Error(err)
		}
	})
}

// A silence created through the API withholds forwarding but keeps
// counting; the fault still present when it is expired is forwarded.
func TestSilence(t *testing.T) {
	set := loadExample(t, "datacenter")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		defer h.stop()
		for _, bad := range []Silence{
			{Matchers: []string{`instance=~"("`}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "a"},
			{Matchers: []string{`instance="db1"`}, StartsAt: time.Now().Add(time.Hour), EndsAt: time.Now(), CreatedBy: "a"},
			{Matchers: []string{`instance="db1"`}, EndsAt: time.Now().Add(time.Hour)},
			{EndsAt: time.Now().Add(time.Hour), CreatedBy: "a"},
		} {
			if _, err := h.e.AddSilence(bad); !errors.Is(err, ErrInvalidSilence) {
				t.Errorf("AddSilence(%+v): got %v, want ErrInvalidSilence", bad, err)
			}
		}
		sil, err := h.e.AddSilence(Silence{Matchers: []string{`instance="db1"`}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "anna", Comment: "disk swap"})
		if err != nil || sil.Status != "active" {
			t.Fatalf("AddSilence: %+v, %v", sil, err)
		}
		synctest.Wait()
		ev := event(map[string]string{"alertname": "DiskFull", "instance": "db1"}, 0)
		h.submit(ev)
		h.advance(10 * time.Minute)
		h.submit(ev) // past nothing: a duplicate, still counted
		if n := len(h.rec.all()); n != 0 {
			t.Fatalf("got %d changes forwarded under the silence, want 0", n)
		}
		inc := h.e.Incidents(Filter{})[0]
		if inc.Maintenance != "silence "+sil.ID || inc.EventCount != 2 {
			t.Errorf("got maintenance %q, %d events; want the silence and 2 events", inc.Maintenance, inc.EventCount)
		}
		if _, err := h.e.ExpireSilence("sil-nope"); !errors.Is(err, ErrUnknownSilence) {
			t.Errorf("ExpireSilence(unknown): got %v", err)
		}
		if s, err := h.e.ExpireSilence(sil.ID); err != nil || s.Status != "expired" {
			t.Fatalf("ExpireSilence: %+v, %v", s, err)
		}
		synctest.Wait()
		cs := h.rec.all()
		if len(cs) != 1 || cs[0].Type != ChangeOpened || cs[0].Detail != "maintenance ended" {
			t.Fatalf("got %v after the silence ended, want one opened change", cs)
		}
		if got := h.e.Silences(); len(got) != 1 || got[0].Status != "expired" {
			t.Errorf("Silences() = %+v, want the expired one", got)
		}
	})
}

// A problem raised by a daily pattern becomes a known error, whose
// workaround then reaches the group's next incident.
func TestKnownErrorFromProblem(t *testing.T) {
	set := compileRules(t, `
problems:
  daily: {days: 3, min_days: 2, tolerance: 10m}
rules:
  - name: store-registers
    match: ['alertname="RegisterDown"']
    group_by: [store]
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		defer h.stop()
		ev := event(map[string]string{"alertname": "RegisterDown", "store": "0412", "register": "1"}, 0)
		night := func() {
			ev.Status = ingest.StatusFiring
			h.submit(ev)
			h.advance(10 * time.Minute)
			ev.Status = ingest.StatusResolved
			h.submit(ev)
			h.advance(24*time.Hour - 10*time.Minute)
		}
		night()
		night()
		ps := h.e.Problems()
		if len(ps) != 1 || ps[0].Kind != "daily" || ps[0].Status != "open" || len(ps[0].Incidents) != 2 {
			t.Fatalf("got problems %+v, want one open daily problem over 2 incidents", ps)
		}
		if _, err := h.e.KnownErrorFromProblem("prb-nope", rules.KnownErrorConfig{Workaround: "w"}); !errors.Is(err, ErrUnknownProblem) {
			t.Errorf("got %v for an unknown problem", err)
		}
		k, err := h.e.KnownErrorFromProblem(ps[0].ID, rules.KnownErrorConfig{Title: "Registers on a night timer", Workaround: "Move the registers off the timed circuit"})
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := h.e.Problem(ps[0].ID); p.Status != "known_error" || p.KnownError != k.ID {
			t.Errorf("got problem %+v, want status known_error with %s", p, k.ID)
		}
		synctest.Wait()
		night()
		var last Incident
		for _, inc := range h.e.Incidents(Filter{}) {
			if inc.OpenedAt.After(last.OpenedAt) {
				last = inc
			}
		}
		if len(last.KnownErrors) != 1 || last.KnownErrors[0].ID != k.ID || last.Problem != ps[0].ID {
			t.Errorf("third night's incident: known errors %+v, problem %q; want %s and %s", last.KnownErrors, last.Problem, k.ID, ps[0].ID)
		}
		var problemChanges int
		for _, c := range h.rec.all() {
			if c.Problem != nil {
				problemChanges++
			}
		}
		if problemChanges != 2 {
			t.Errorf("got %d problem changes, want opened and updated", problemChanges)
		}
		if _, err := h.e.ResolveProblem(ps[0].ID); err != nil {
			t.Fatal(err)
		}
		if p, _ := h.e.Problem(ps[0].ID); p.Status != "resolved" {
			t.Errorf("got status %q after resolve", p.Status)
		}
	})
}

// A storm of repeats into a resolve_after incident, and of sub-threshold
// signals into a waiting group, keeps the timer heap small.
func TestTimersStayBoundedUnderStorm(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: pos
    match: ['app="pos"']
    group_by: [host]
    resolve_after: 10m
  - name: store
    match: ['app="store"']
    group_by: [store]
    threshold: {distinct: {label: register, count: 1000000}}
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, set)
		defer h.stop()
		for i := 0; i < 2000; i++ {
			h.submit(event(map[string]string{"app": "pos", "host": "till1", "msg": "offline"}, 0),
				event(map[string]string{"app": "pos", "host": "till1", "msg": fmt.Sprint("err ", i%50)}, 0),
				event(map[string]string{"app": "store", "store": "1", "register": fmt.Sprint(i)}, 0))
			h.advance(100 * time.Millisecond)
		}
		n := h.timerEntries()
		if n > 20 {
			t.Errorf("got %d pending timer entries after 6000 events, want a handful", n)
		}
	})
}

// The default title and description are rendered in Go; they must equal
// what the templates they stand for produce.
func TestDefaultTemplatesFastPath(t *testing.T) {
	set := loadExample(t, "datacenter") // host-resources uses the defaults
	r := set.Rule("host-resources")
	if !r.DefaultTitle || !r.DefaultDesc {
		t.Fatal("host-resources should use the default templates")
	}
	cases := []struct {
		name             string
		common, ann, grp map[string]string
		breadth          map[string]map[string]struct{}
		signals, firing  int
	}{
		{"summary wins", map[string]string{"alertname": "DiskFull"}, map[string]string{"summary": "Disk full on db1", "description": "97% used"}, map[string]string{"instance": "db1"}, nil, 1, 1},
		{"alertname and group", map[string]string{"alertname": "DiskFull", "instance": "db1"}, nil, map[string]string{"instance": "db1", "job": "node"}, nil, 2, 1},
		{"rule name", nil, nil, map[string]string{"instance": "db1"}, nil, 3, 0},
		{"breadth", map[string]string{"alertname": "X"}, map[string]string{"description": "line"}, nil, map[string]map[string]struct{}{"store": {"1": {}, "2": {}}}, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rule := *r
			if tc.breadth != nil {
				rule.Breadth = []string{"store"}
			}
			inc := &incState{rule: &rule, matrix: &set.Matrix, g: &group{labels: ingest.LabelsFromMap(tc.grp), set: set},
				common: ingest.LabelsFromMap(tc.common), commonAnn: ingest.LabelsFromMap(tc.ann),
				breadth: tc.breadth, firing: tc.firing, status: StatusOpen}
			for i := 0; i < tc.signals; i++ {
				inc.order = append(inc.order, &sigState{})
			}
			fast := inc.snapshot(false)
			rule.DefaultTitle, rule.DefaultDesc = false, false
			slow := inc.snapshot(false)
			if fast.Title != slow.Title || fast.Description != slow.Description {
				t.Errorf("fast path %q / %q, templates %q / %q", fast.Title, fast.Description, slow.Title, slow.Description)
			}
		})
	}
}

// A maintenance window and a known error added by a reload apply to an
// incident that was already open.
func TestReloadAppliesWindowsAndKnownErrors(t *testing.T) {
	compile := func(src string) *rules.Set {
		set := compileRules(t, src)
		return set
	}
	base := "rules:\n  - name: disk\n    match: ['alertname=\"DiskFull\"']\n    group_by: [instance]\n"
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 1}, compile(base))
		defer h.stop()
		h.submit(event(map[string]string{"alertname": "DiskFull", "instance": "db1"}, 0))
		h.e.SetRules(compile(base + `
known_errors:
  - {id: KE-1, title: Log rotation off, match: ['instance="db1"'], workaround: Rotate the logs}
maintenance:
  - {name: swap, match: ['instance="db1"'], start: "1999-12-31T00:00:00Z", end: "2000-01-02T00:00:00Z"}
`))
		synctest.Wait()
		inc := h.e.Incidents(Filter{})[0]
		if inc.Maintenance != "swap" || len(inc.KnownErrors) != 1 {
			t.Errorf("got maintenance %q and known errors %v after reload, want swap and KE-1", inc.Maintenance, inc.KnownErrors)
		}
	})
}

// The dedup set survives a restart through its directory; a corrupted one
// is set aside with a warning, not a failure.
func TestDedupSetSurvivesRestart(t *testing.T) {
	set := loadExample(t, "datacenter")
	dir := filepath.Join(t.TempDir(), "dedup")
	run := func(events ...ingest.Event) *Engine {
		e := New(Options{Shards: 1, DedupPath: dir}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		for !e.isRunning() {
			runtime.Gosched()
		}
		if err := e.Submit(context.Background(), events); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		return e
	}
	ev := event(map[string]string{"alertname": "DiskFull", "instance": "db1"}, 0)
	ev.ArrivalTime = time.Now()
	run(ev)
	e := run(ev)
	if got := testutil.ToFloat64(e.m.deduplicated.WithLabelValues("test")); got != 1 {
		t.Errorf("got %v deduplicated after restart, want 1 (the set was reloaded)", got)
	}
	// A damaged set: the engine starts with an empty one.
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		_ = os.WriteFile(filepath.Join(dir, en.Name()), []byte("garbage"), 0o644)
	}
	e = run(ev)
	if got := testutil.ToFloat64(e.m.deduplicated.WithLabelValues("test")); got != 0 {
		t.Errorf("got %v deduplicated with a damaged set, want 0", got)
	}
}
