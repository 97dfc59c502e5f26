package correlator

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/rules"
)

// Silences, known errors and change records made through the API, and
// problems, survive a restart through the state store.
func TestRestoreAfterRestart(t *testing.T) {
	dir := t.TempDir()
	set := loadExample(t, "datacenter")
	start := func() (*Engine, *store.Store, func()) {
		st, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		e := New(Options{Shards: 1}, set, nil, prometheus.NewRegistry(), zerolog.Nop())
		if err := e.Restore(st); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.Run(ctx); close(done) }()
		for !e.isRunning() {
			runtime.Gosched()
		}
		return e, st, func() { cancel(); <-done; st.Close() }
	}

	e, _, stop := start()
	sil, err := e.AddSilence(Silence{Matchers: []string{`instance="db1"`}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddKnownError(rules.KnownErrorConfig{ID: "KE-7", Title: "Disk", Match: []string{`instance="db2"`}, Workaround: "Rotate"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddKnownError(rules.KnownErrorConfig{ID: "KE-8", Title: "Gone", Match: []string{`instance="db3"`}, Workaround: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteKnownError("KE-8"); err != nil {
		t.Fatal(err)
	}
	if err := e.AddChanges([]ChangeRecord{{ID: "CHG-1", Title: "db upgrade", Start: time.Now(), Scope: map[string]string{"instance": "db2"}}}); err != nil {
		t.Fatal(err)
	}
	e.prob.mu.Lock()
	p := &Problem{ID: "prb-1", Rule: "host-resources", Status: "open", Kind: "daily", Pattern: "daily around 02:00 UTC"}
	e.prob.byID[p.ID], e.prob.byGroup[42] = p, p
	e.prob.order = append(e.prob.order, p.ID)
	e.persistProblemLocked(p)
	e.prob.mu.Unlock()
	if _, err := e.ResolveProblem("prb-1"); err != nil {
		t.Fatal(err)
	}
	stop()

	e, _, stop = start()
	defer stop()
	if got := e.Silences(); len(got) != 1 || got[0].ID != sil.ID || got[0].Status != "active" {
		t.Errorf("silences after restart: %+v", got)
	}
	var api []string
	for _, k := range e.KnownErrors() {
		if k.Origin == "api" {
			api = append(api, k.ID)
		}
	}
	if len(api) != 1 || api[0] != "KE-7" {
		t.Errorf("API known errors after restart: %v, want [KE-7]", api)
	}
	if got := e.Changes(); len(got) != 1 || got[0].ID != "CHG-1" {
		t.Errorf("changes after restart: %+v", got)
	}
	if got, ok := e.Problem("prb-1"); !ok || got.Status != "resolved" {
		t.Errorf("problem after restart: %+v, %v", got, ok)
	}
}

// A store that refuses writes makes the API call fail: nothing is
// acknowledged that a restart would lose.
func TestAPIWriteFailsWhenNotStored(t *testing.T) {
	e := New(Options{Shards: 1}, loadExample(t, "datacenter"), nil, prometheus.NewRegistry(), zerolog.Nop())
	if err := e.Restore(failingStore{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.AddSilence(Silence{Matchers: []string{`a="b"`}, EndsAt: time.Now().Add(time.Hour), CreatedBy: "anna"})
	if !errors.Is(err, ErrNotPersisted) {
		t.Errorf("AddSilence: got %v, want ErrNotPersisted", err)
	}
	if got := e.Silences(); len(got) != 0 {
		t.Errorf("got %d silences after a failed store write, want 0", len(got))
	}
	if err := e.AddChanges([]ChangeRecord{{ID: "C", Start: time.Now(), Scope: map[string]string{"a": "b"}}}); !errors.Is(err, ErrNotPersisted) {
		t.Errorf("AddChanges: got %v", err)
	}
}

type failingStore struct{}

func (failingStore) Put(string, string, any) error { return errors.New("disk full") }
func (failingStore) Delete(string, string) error   { return errors.New("disk full") }
func (failingStore) Load(string, func(string, []byte) error) error {
	return nil
}
