package correlator

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/rules"
)

// storeEngine is a durable engine over a real store file.
type storeEngine struct {
	e      *Engine
	st     *store.Store
	rec    *recorder
	cancel context.CancelFunc
	done   chan struct{}
}

func startStoreEngine(t *testing.T, set *rules.Set, dir, dedup string) *storeEngine {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &storeEngine{st: st, rec: &recorder{}, done: make(chan struct{})}
	opts := Options{Shards: 3, DedupPath: dedup, DedupSaveInterval: rules.Duration(1000 * time.Hour)}
	d.e = New(opts, set, d.rec, prometheus.NewRegistry(), zerolog.Nop())
	if err := d.e.Restore(st); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { _ = d.e.Run(ctx); close(d.done) }()
	synctest.Wait()
	return d
}

func (d *storeEngine) stop(t *testing.T) {
	d.cancel()
	<-d.done
	if err := d.st.Close(); err != nil {
		t.Error(err)
	}
}

// crashCopy copies the engine's store file as it is on disk into a new
// directory, with the dedup set saved beside it.
func (d *storeEngine) crashCopy(t *testing.T) (dir, dedup string) {
	t.Helper()
	dir = t.TempDir()
	src, err := os.Open(d.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dedup = filepath.Join(dir, "dedup")
	if err := d.e.dedup.SaveToFileConcurrent(dedup, 1); err != nil {
		t.Fatal(err)
	}
	return dir, dedup
}

// Every golden case, through the store as the daemon writes it (groups,
// signals and timeline entries as their own records, group commits): an
// engine started from a copy of the store file taken before each line
// holds the same incidents, and from there on emits the same changes as
// the engine that kept running.
//
// Repeats inside the dedup window are written lazily (with the group's
// next write, or at stop); they are written before each copy here so that
// event counts compare exactly.
func TestDurableGoldenStoreRestore(t *testing.T) {
	every := 1
	if raceEnabled {
		every = 8 // the race detector slows this about tenfold
	}
	eachGoldenRestore(t, every,
		func(t *testing.T, set *rules.Set) goldenRun {
			a := startStoreEngine(t, set, t.TempDir(), "")
			return goldenRun{e: a.e, rec: a.rec, stop: func() { a.stop(t) }, store: a}
		},
		func(t *testing.T, set *rules.Set, a goldenRun, line int) goldenRun {
			for _, s := range a.e.shards {
				if req := s.persistTouched(); req != nil {
					<-req.sync
				}
			}
			synctest.Wait()
			dir, _ := a.store.crashCopy(t)
			b := startStoreEngine(t, set, dir, "")
			sameIncidents(t, fmt.Sprintf("restored from the store before line %d", line), a.e, b.e)
			return goldenRun{e: b.e, rec: b.rec, stop: func() { b.stop(t) }}
		})
}
