package correlator

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
)

// settle waits until the shards have handled their notes and the
// committer has written what they handed in.
func settle(e *Engine) {
	idle := func() bool {
		for _, s := range e.shards {
			s.inboxMu.Lock()
			n := len(s.inbox)
			s.inboxMu.Unlock()
			// The lock is taken while a note is handled.
			s.mu.Lock()
			fw := s.flushWanted.Load()
			s.mu.Unlock()
			if n > 0 || fw {
				return false
			}
		}
		return !e.dur.busy.Load() && len(e.dur.commits) == 0
	}
	for {
		before := testutil.ToFloat64(e.m.commitBytes)
		for !idle() {
			runtime.Gosched()
		}
		// Twice idle with the same count of bytes written: nothing was
		// in flight between the looks.
		time.Sleep(2 * time.Millisecond)
		if idle() && testutil.ToFloat64(e.m.commitBytes) == before {
			return
		}
	}
}

// BenchmarkMaintenanceWrites measures what a silence or a reload writes to
// the store with 100,000 open incidents: a silence that matches nothing, a
// silence matching 1% of them, and a reload that changes nothing.
// ns/op includes a few milliseconds of settling.
func BenchmarkMaintenanceWrites(b *testing.B) {
	const open = 100000
	set := durableRules(b)
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := New(Options{Shards: 2, QueueSize: 1 << 18, MaxOpenIncidents: 4 * open, MaxSilences: 1 << 20}, set, &countingPublisher{}, prometheus.NewRegistry(), zerolog.Nop())
	if err := e.Restore(st); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for !e.isRunning() {
		runtime.Gosched()
	}
	// Stores s00000-00 .. s00999-99: the suffix -00 is 1% of them.
	batch := make([]ingest.Event, 0, 1000)
	for i := 0; i < open; i++ {
		batch = append(batch, register(fmt.Sprintf("s%05d-%02d", i/100, i%100), 1, ingest.StatusFiring))
		if len(batch) == cap(batch) {
			if err := e.SubmitStored(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	settle(e)
	if n := len(e.Incidents(Filter{})); n != open {
		b.Fatalf("open incidents %d, want %d", n, open)
	}
	silence := func(matcher string) Silence {
		return Silence{Matchers: []string{matcher}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "bench"}
	}
	for _, bc := range []struct {
		name string
		do   func(b *testing.B) (undo func())
	}{
		{"silence-matches-none", func(b *testing.B) func() {
			s, err := e.AddSilence(silence(`store="none"`))
			if err != nil {
				b.Fatal(err)
			}
			return func() { _, _ = e.ExpireSilence(s.ID) }
		}},
		{"silence-matches-1pct", func(b *testing.B) func() {
			s, err := e.AddSilence(silence(`store=~".*-00"`))
			if err != nil {
				b.Fatal(err)
			}
			return func() { _, _ = e.ExpireSilence(s.ID) }
		}},
		{"reload-noop", func(b *testing.B) func() {
			e.SetRules(e.Rules())
			return func() {}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var bytes, took float64
			for i := 0; i < b.N; i++ {
				start := testutil.ToFloat64(e.m.commitBytes)
				t0 := time.Now()
				undo := bc.do(b)
				settle(e)
				took += time.Since(t0).Seconds()
				bytes += testutil.ToFloat64(e.m.commitBytes) - start
				b.StopTimer()
				undo()
				settle(e)
				b.StartTimer()
			}
			b.ReportMetric(bytes/float64(b.N), "store-bytes/op")
			b.ReportMetric(took/float64(b.N), "s/op")
		})
	}
}
