package correlator

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/rules"
)

// switchCommitter refuses every commit while refusing is set, as a full
// disk or an I/O error would.
type switchCommitter struct {
	*memStore
	mu       sync.Mutex
	refusing bool
}

func (f *switchCommitter) set(refusing bool) {
	f.mu.Lock()
	f.refusing = refusing
	f.mu.Unlock()
}

func (f *switchCommitter) Commit(ops []store.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refusing {
		return errors.New("write corrd.db: no space left on device")
	}
	m := f.memStore
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range ops {
		if op.Value == nil {
			delete(m.b[op.Bucket], op.Key)
			continue
		}
		if m.b[op.Bucket] == nil {
			m.b[op.Bucket] = map[string][]byte{}
		}
		m.b[op.Bucket][op.Key] = op.Value
	}
	return nil
}

// While the store refuses writes: a batch already taken is held whole and
// its sender gets ErrNotPersisted (which the webhook answers 503 with
// Retry-After) within commit_timeout; a new batch and an acknowledgement
// are refused at once, nothing of them applied, counted; the store error is
// reported. Once writes succeed, the held batch is committed, the error
// clears and a retry lands.
func TestStoreRefusingWrites(t *testing.T) {
	set := durableRules(t)
	synctest.Test(t, func(t *testing.T) {
		st := &switchCommitter{memStore: newMemStore()}
		rec := &recorder{}
		const bound = 3 * time.Second
		e := New(Options{Shards: 2, CommitTimeout: rules.Duration(bound)}, set, rec, prometheus.NewRegistry(), zerolog.Nop())
		if err := e.Restore(st); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		synctest.Wait()

		// One incident committed while the store works, to acknowledge.
		if err := e.SubmitStored(ctx, []ingest.Event{register("0100", 1, ingest.StatusFiring)}); err != nil {
			t.Fatal(err)
		}
		acked := e.Incidents(Filter{})
		if len(acked) != 1 {
			t.Fatalf("%d incidents, want 1", len(acked))
		}

		st.set(true)
		held := []ingest.Event{register("0001", 1, ingest.StatusFiring), register("0002", 1, ingest.StatusFiring)}
		start := time.Now()
		err := e.SubmitStored(ctx, held)
		if took := time.Since(start); took > bound {
			t.Errorf("SubmitStored took %v, want at most %v", took, bound)
		}
		if !errors.Is(err, ErrNotPersisted) || !errors.Is(err, ingest.ErrBackpressure) {
			t.Fatalf("SubmitStored = %v, want ErrNotPersisted and ErrBackpressure", err)
		}
		if got := testutil.ToFloat64(e.dur.m.waitTimeout); got != 1 {
			t.Errorf("wait timeouts = %v, want 1", got)
		}
		if err := e.StoreError(); !errors.Is(err, ErrStoreFailing) {
			t.Errorf("StoreError = %v, want ErrStoreFailing", err)
		}
		if n := len(rec.all()); n != 1 {
			t.Errorf("%d changes published, want only the first batch's", n)
		}

		// Refused up front: no waiting, nothing applied.
		fresh := []ingest.Event{register("0003", 1, ingest.StatusFiring), register("0004", 1, ingest.StatusFiring)}
		start = time.Now()
		err = e.SubmitStored(ctx, fresh)
		if !errors.Is(err, ErrStoreFailing) || !errors.Is(err, ErrNotPersisted) || !errors.Is(err, ingest.ErrBackpressure) {
			t.Fatalf("SubmitStored while failing = %v, want ErrStoreFailing", err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("refusal took %v, want at once", took)
		}
		if _, err := e.Ack(acked[0].ID, "ops"); !errors.Is(err, ErrNotPersisted) {
			t.Errorf("Ack while failing = %v, want ErrNotPersisted", err)
		}
		synctest.Wait()
		for _, inc := range e.Incidents(Filter{}) {
			if s := inc.GroupLabels.Get("store"); s == "0003" || s == "0004" {
				t.Errorf("refused batch applied: %v", inc.GroupLabels)
			}
			if inc.AckedAt != nil {
				t.Errorf("refused ack applied to %s", inc.ID)
			}
		}
		if got := testutil.ToFloat64(e.dur.m.refused); got != 2 {
			t.Errorf("refused = %v, want 2", got)
		}

		// Writes succeed again: the held batch goes in whole, the error
		// clears, the retry lands.
		st.set(false)
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if err := e.StoreError(); err != nil {
			t.Fatalf("StoreError after recovery = %v", err)
		}
		if n := len(rec.all()); n != 3 {
			t.Errorf("%d changes published after recovery, want 3 (the held batch whole)", n)
		}
		if err := e.SubmitStored(ctx, fresh); err != nil {
			t.Fatalf("retry after recovery: %v", err)
		}
		if n := len(e.Incidents(Filter{})); n != 5 {
			t.Errorf("%d incidents after the retry, want 5", n)
		}
		if _, err := e.Ack(acked[0].ID, "ops"); err != nil {
			t.Errorf("Ack after recovery: %v", err)
		}
		cancel()
		<-done
	})
}

// fillDedup puts n incompressible entries in the dedup set, so that its
// save writes megabytes.
func fillDedup(e *Engine, n int) {
	var key [8]byte
	val := make([]byte, 64)
	for i := range n {
		binary.LittleEndian.PutUint64(key[:], uint64(i))
		rand.Read(val)
		e.dedup.Set(key[:], val)
	}
}

// A dedup save that hits a full disk leaves fastcache's save blocked; the
// stop still completes within the save's timeout, with the failure counted.
// Needs root to mount a 1 MiB tmpfs; skips otherwise.
func TestStopWithDedupSaveOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).Run(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "dedup")
	e := New(Options{Shards: 1, DedupPath: path, DedupSaveTimeout: rules.Duration(2 * time.Second)},
		durableRules(t), &recorder{}, prometheus.NewRegistry(), zerolog.Nop())
	fillDedup(e, 200000)
	stopWithOneSaveError(t, e)
}

// A dedup directory that cannot be created (its parent is a regular file)
// is a counted error, and the stop completes.
func TestStopWithDedupDirUnwritable(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := New(Options{Shards: 1, DedupPath: filepath.Join(parent, "dedup")},
		durableRules(t), &recorder{}, prometheus.NewRegistry(), zerolog.Nop())
	stopWithOneSaveError(t, e)
}

// stopWithOneSaveError runs e and stops it at once: Run saves the dedup
// set once more when it stops, that save must fail (counted once), and
// Run must still return.
func stopWithOneSaveError(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of the stop: the dedup save is stuck")
	}
	if got := testutil.ToFloat64(e.m.dedupSaveErrors); got != 1 {
		t.Errorf("dedup save errors = %v, want 1", got)
	}
}
