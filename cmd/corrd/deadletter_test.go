package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/outputs"
)

// refusingSink answers 400 until told to accept.
type refusingSink struct {
	accept    atomic.Bool
	delivered atomic.Int32
}

func (s *refusingSink) Name() string { return "tickets" }

func (s *refusingSink) Deliver(context.Context, correlator.Change) (bool, error) {
	if !s.accept.Load() {
		return false, errors.New("400 Bad Request: unknown queue")
	}
	s.delivered.Add(1)
	return false, nil
}

func TestDeadLetterEndpoints(t *testing.T) {
	sink := &refusingSink{}
	d, err := outputs.NewWithSinks([]outputs.Sink{sink}, nil, outputs.RetryConfig{}, prometheus.NewRegistry(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Run(ctx) }()
	d.Publish(correlator.Change{Type: correlator.ChangeOpened, Incident: correlator.Incident{ID: "inc-1", Revision: 1}})
	deadline := time.Now().Add(10 * time.Second)
	for len(d.DeadLetters()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no dead letter")
		}
		runtime.Gosched() // the delivery goroutine is real: let it run
	}
	h, err := newWebHandler(webDeps{incidents: &fakeIncidents{}, gatherer: prometheus.NewRegistry(),
		ready: func() error { return nil }, reload: func() error { return nil }, log: zerolog.Nop(), dead: d})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := do("GET", "/api/v1/deadletters")
	if code != 200 || !strings.Contains(body, `"reason":"permanent"`) || !strings.Contains(body, "unknown queue") || !strings.Contains(body, `"inc-1"`) {
		t.Fatalf("list: %d %s", code, body)
	}
	id := d.DeadLetters()[0].ID
	if code, _ := do("POST", "/api/v1/deadletters/dl-nope/retry"); code != http.StatusNotFound {
		t.Errorf("retry unknown: %d, want 404", code)
	}
	if code, _ := do("DELETE", "/api/v1/deadletters/dl-nope"); code != http.StatusNotFound {
		t.Errorf("delete unknown: %d, want 404", code)
	}
	sink.accept.Store(true)
	if code, body := do("POST", "/api/v1/deadletters/"+id+"/retry"); code != 200 || !strings.Contains(body, "queued again") {
		t.Fatalf("retry: %d %s", code, body)
	}
	for sink.delivered.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("retried dead letter not delivered")
		}
		runtime.Gosched()
	}
	if code, body := do("GET", "/api/v1/deadletters"); code != 200 || !strings.Contains(body, `"dead_letters":[]`) {
		t.Errorf("list after retry: %d %s", code, body)
	}
}
