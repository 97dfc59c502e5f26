package correlator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
)

// groupWriteCounter is a store that counts the group records each commit
// writes.
type groupWriteCounter struct {
	*memStore
	mu     sync.Mutex
	groups int
}

func (c *groupWriteCounter) Commit(ops []store.Op) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		if op.Bucket == bucketGroups {
			c.groups++
		}
	}
	return nil
}

func (c *groupWriteCounter) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.groups
	c.groups = 0
	return n
}

// A silence, a known error or a reload writes only the groups whose
// state it changes: nothing when it matches nothing.
func TestMaintenanceWritesOnlyChangedGroups(t *testing.T) {
	set := durableRules(t)
	synctest.Test(t, func(t *testing.T) {
		st := &groupWriteCounter{memStore: newMemStore()}
		e := New(Options{Shards: 2}, set, &recorder{}, prometheus.NewRegistry(), zerolog.Nop())
		if err := e.Restore(st); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		synctest.Wait()
		var evs []ingest.Event
		for i := range 20 {
			evs = append(evs, register(fmt.Sprintf("%04d", i), 1, ingest.StatusFiring))
		}
		if err := e.SubmitStored(ctx, evs); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := st.take(); got != 20 {
			t.Fatalf("got %d group writes for 20 new incidents, want 20", got)
		}
		until := time.Now().Add(time.Hour)
		steps := []struct {
			name string
			do   func() error
			want int
		}{
			{"silence matching nothing", func() error {
				_, err := e.AddSilence(Silence{Matchers: []string{`store="none"`}, EndsAt: until, CreatedBy: "t"})
				return err
			}, 0},
			{"silence matching one", func() error {
				_, err := e.AddSilence(Silence{Matchers: []string{`store="0003"`}, EndsAt: until, CreatedBy: "t"})
				return err
			}, 1},
			{"reload of the same rules", func() error { e.SetRules(e.Rules()); return nil }, 0},
			{"change record matching nothing", func() error {
				return e.AddChanges([]ChangeRecord{{ID: "chg-1", Start: time.Now().Add(-time.Hour), Scope: map[string]string{"store": "none"}}})
			}, 0},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			synctest.Wait()
			if got := st.take(); got != s.want {
				t.Errorf("%s: got %d group writes, want %d", s.name, got, s.want)
			}
		}
		if got := e.Incidents(Filter{}); len(got) != 20 {
			t.Fatalf("got %d incidents, want 20", len(got))
		}
		inMaint := 0
		for _, inc := range e.Incidents(Filter{}) {
			if inc.Maintenance != "" {
				inMaint++
			}
		}
		if inMaint != 1 {
			t.Errorf("got %d incidents in maintenance, want 1", inMaint)
		}
	})
}

// Beyond max_silences active or pending silences, AddSilence refuses with
// ErrTooManySilences and counts it; an expired one frees its place.
func TestSilenceLimit(t *testing.T) {
	set := loadExample(t, "datacenter")
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2, MaxSilences: 2}, set)
		defer h.stop()
		add := func() (Silence, error) {
			return h.e.AddSilence(Silence{Matchers: []string{`instance="db1"`}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "anna"})
		}
		first, err := add()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := add(); err != nil {
			t.Fatal(err)
		}
		if _, err := add(); !errors.Is(err, ErrTooManySilences) {
			t.Fatalf("third silence: got %v, want ErrTooManySilences", err)
		}
		if got := testutil.ToFloat64(h.e.m.silencesRefused); got != 1 {
			t.Errorf("got %v refusals counted, want 1", got)
		}
		if _, err := h.e.ExpireSilence(first.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := add(); err != nil {
			t.Errorf("after expiring one: %v", err)
		}
		if got := len(h.e.Silences()); got != 3 {
			t.Errorf("got %d silences listed, want 3 (one expired)", got)
		}
	})
}
